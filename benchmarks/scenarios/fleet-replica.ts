/**
 * Scenario 11, one replica of the fleet (this bundle forked as `--child fleet-replica`): an
 * ioredis `Cluster` client, and per part a `RedisTokenStore` on it with a `TokenManagerPool`
 * of N users signing in at the orchestrator's sandbox. It answers the orchestrator's steps
 * over IPC: prepare a part (every user gets a token), then run it (one loop per user:
 * `getAccessToken(user)`, `GET /api/v2/cards` with that bearer, a pause).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import { AlixAuthProvider, TokenManagerPool } from '../../src/index';
import type { PoolLifecycleEvent } from '../../src/index';
import { RedisTokenStore } from '../../src/redis';
import type { RedisAuthBreakerOptions } from '../../src/redis';
import { SANDBOX_USER_HEADER } from '../../src/sandbox/index';
import { createClient } from '../lib/http';
import { describeError, nextMessage } from '../lib/processes';

/** What every replica is given once, before any step. */
export interface FleetReplicaConfig {
  seeds: Array<{ host: string; port: number }>;
  baseUrl: string;
  partnerCode: string;
  secretKey: string;
  privateKeyPem: string;
  refreshBeforeExpiryMs: number;
  expirySkewMs: number;
}

/** Which part a step belongs to: A (steady load) or B (auth outage). */
export type FleetPart = 'steady' | 'outage';

/** One step the orchestrator asks for. */
export type FleetStep =
  | { op: 'prepare'; part: FleetPart; users: number; breaker: RedisAuthBreakerOptions; startAt: number; rampMs: number }
  /** `http: false`: each loop only asks for its user's token (keeps the session in use), no request (scenario 13). */
  | { op: 'steady'; startAt: number; endAt: number; thinkMinMs: number; thinkMaxMs: number; http?: boolean }
  | {
      op: 'outage';
      startAt: number;
      outageStartAt: number;
      outageEndAt: number;
      endAt: number;
      thinkMinMs: number;
      thinkMaxMs: number;
    };

/** The messages a replica receives. */
export type FleetReplicaRequest =
  { type: 'config'; config: FleetReplicaConfig } | { type: 'step'; id: number; step: FleetStep } | { type: 'exit' };

/** The messages a replica sends. */
export type FleetReplicaReply =
  | { type: 'ready' }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'failed'; id: number | null; error: string };

/** After `prepare`: how long it took until every user held a token here. */
export interface FleetPrepared {
  startupMs: number;
  failures: number;
}

/** Request outcomes of one loop (or one phase of it). */
export interface FleetRequestCounts {
  requests: number;
  /** Answered 200. */
  ok: number;
  /** Answered 401 by the sandbox: a token used after its expiry (or revoked). */
  unauthorized: number;
  /** Answered 403: the bearer belongs to another user than the one the request names. */
  wrongUser: number;
  /** Another status, or no answer. */
  httpFailures: number;
  /** Those by kind: the status, or the transport error's code. */
  httpFailureKinds: Record<string, number>;
  /** `getAccessToken()` rejected, by error code (`ERR_…`, with `/breaker` for the breaker's refusals). */
  tokenFailures: Record<string, number>;
}

/** What a steady run (part A) reports. */
export interface FleetSteadyReport {
  counts: FleetRequestCounts;
  /** `getAccessToken()` latency of each call, ms. */
  tokenLatenciesMs: number[];
  /** Each token set obtained here (sign-in or refresh): [user index, epoch ms, lifetime at arrival in ms]. */
  obtained: Array<[number, number, number]>;
  /** Refresh runs that adopted another replica's session. */
  adopted: number;
  /** Refresh runs started here (lifecycle `refresh-started`). */
  refreshRuns: number;
  /** Sessions adopted here (lifecycle `adopted`): hand-overs heard, plus runs that adopted (`adopted` above). */
  adoptedEvents: number;
  /** Commands this replica sent to Redis during the run, by name (its counter on every ioredis `Cluster`). */
  redisCommands: Record<string, number>;
  lockOutcomes: Record<'acquired' | 'published' | 'unavailable', number>;
  storeFailures: number;
  /** How long each caller that had to wait for a token (lifecycle `token-waited`) waited, ms. */
  waitedMs: number[];
  /** CPU time this replica used during the run (user + system), ms. */
  cpuMs: number;
  /** Event-loop delay during the run (`monitorEventLoopDelay`), ms. */
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
}

/** One phase of an outage run: calls that started before, during or after the planned outage. */
export interface FleetOutagePhase {
  counts: FleetRequestCounts;
  /** Latency of `getAccessToken()` calls that resolved with a token, ms. */
  servedMs: number[];
  /** Latency of those that rejected, ms. */
  failedMs: number[];
  /** Auth calls this replica started (lifecycle `auth-call-started`). */
  authCallsStarted: number;
  /** How long each refresh run waited for the session's cross-replica lock (lifecycle `lock-waited`), ms. */
  lockWaitsMs: number[];
}

/** What an outage run (part B) reports. */
export interface FleetOutageReport {
  before: FleetOutagePhase;
  during: FleetOutagePhase;
  after: FleetOutagePhase;
  /** Per user that was served after the outage: ms from the outage's end to its first token. */
  firstServedAfterEndMs: number[];
  /** Users that got no token after the outage's end. */
  neverServedAfterEnd: number;
  /** `breaker-changed` events seen here: [epoch ms, state]. */
  breakerChanges: Array<[number, string]>;
  /** When this replica's breaker admitted an auth call during the planned outage, epoch ms. */
  admittedDuringAt: number[];
}

const userOf = (part: FleetPart, index: number): string => `${part}-user-${index}@example.com`;

/** Commands this process sent through ioredis `Cluster` clients, by name (in `Cluster.prototype.sendCommand`). */
const sentCommands = new Map<string, number>();

/** Counts every command an ioredis `Cluster` in this process sends (the store's client and its subscriber's). */
function countSentCommands(): void {
  type Send = (this: Cluster, command: { name: string }, ...rest: unknown[]) => unknown;
  const prototype = Cluster.prototype as unknown as { sendCommand: Send };
  const send = prototype.sendCommand;
  prototype.sendCommand = function count(this: Cluster, command: { name: string }, ...rest: unknown[]): unknown {
    sentCommands.set(command.name, (sentCommands.get(command.name) ?? 0) + 1);
    return send.call(this, command, ...rest);
  };
}

/** The commands counted since `before` (a copy of {@link sentCommands}), by name. */
function commandsSince(before: ReadonlyMap<string, number>): Record<string, number> {
  const since: Record<string, number> = {};
  for (const [name, count] of sentCommands) {
    const added = count - (before.get(name) ?? 0);
    if (added > 0) since[name] = added;
  }
  return since;
}

interface Part {
  part: FleetPart;
  users: string[];
  indexOf: Map<string, number>;
  store: RedisTokenStore;
  pool: TokenManagerPool;
  /** Receives every lifecycle event of the pool's sessions. */
  observe: (event: PoolLifecycleEvent) => void;
}

function zeroCounts(): FleetRequestCounts {
  return {
    requests: 0,
    ok: 0,
    unauthorized: 0,
    wrongUser: 0,
    httpFailures: 0,
    httpFailureKinds: {},
    tokenFailures: {},
  };
}

/** An error's code, with the reason of an `AuthUnavailableError` (`ERR_ALIX_AUTH_UNAVAILABLE/breaker`). */
function failureKind(error: unknown): string {
  const { code, reason } = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    reason?: unknown;
  };
  const base = typeof code === 'string' ? code : error instanceof Error ? error.name : 'UNKNOWN';
  return typeof reason === 'string' ? `${base}/${reason}` : base;
}

function countFailure(counts: FleetRequestCounts, kind: string): void {
  counts.httpFailures += 1;
  counts.httpFailureKinds[kind] = (counts.httpFailureKinds[kind] ?? 0) + 1;
}

/** A uniformly random pause in [min, max), ending at `until` (epoch ms) at the latest. */
const think = (min: number, max: number, until: number): Promise<void> =>
  sleep(Math.max(0, Math.min(min + Math.random() * (max - min), until - Date.now())));

class FleetReplica {
  readonly #config: FleetReplicaConfig;
  readonly #cluster: Cluster;
  readonly #http: ReturnType<typeof createClient>;
  #part: Part | undefined;

  constructor(config: FleetReplicaConfig, cluster: Cluster) {
    this.#config = config;
    this.#cluster = cluster;
    // Loops pause for seconds: idle sockets are closed before the sandbox's 5 s keep-alive timeout.
    this.#http = createClient(config.baseUrl, 32, {}, 4_000);
  }

  static async connect(config: FleetReplicaConfig): Promise<FleetReplica> {
    // As docs/scaling.md recommends for a cluster: fail fast while a slot is down.
    const cluster = new Cluster(config.seeds, {
      enableOfflineQueue: false,
      retryDelayOnFailover: 100,
      lazyConnect: true,
      redisOptions: { maxRetriesPerRequest: 1, disconnectTimeout: 20 },
    });
    cluster.on('error', () => undefined);
    await cluster.connect();
    return new FleetReplica(config, cluster);
  }

  async run(step: FleetStep): Promise<unknown> {
    switch (step.op) {
      case 'prepare':
        return this.#prepare(step);
      case 'steady':
        return this.#steady(step);
      case 'outage':
        return this.#outage(step);
    }
  }

  async close(): Promise<void> {
    await this.#closePart();
    this.#http.agent.destroy();
    await this.#cluster.quit().catch(() => this.#cluster.disconnect());
  }

  /**
   * A new store and pool for `part`; user i asks for its first token at `startAt + i × rampMs / users`
   * (the same instant in every replica), so first sign-ins, and with them refresh points, are spread
   * over the ramp as in a fleet that has been running a while.
   */
  async #prepare({
    part,
    users: count,
    breaker,
    startAt,
    rampMs,
  }: Extract<FleetStep, { op: 'prepare' }>): Promise<FleetPrepared> {
    await this.#closePart();
    const { baseUrl, partnerCode, secretKey, privateKeyPem, refreshBeforeExpiryMs, expirySkewMs } = this.#config;
    const store = new RedisTokenStore({ client: this.#cluster, breaker });
    const pool = new TokenManagerPool({
      createProvider: AlixAuthProvider.forUsers({ baseUrl, partnerCode, secretKey, privateKey: privateKeyPem }),
      store,
      refreshBeforeExpiryMs,
      expirySkewMs,
      maxSessions: count,
    });
    const users = Array.from({ length: count }, (_, index) => userOf(part, index));
    const current: Part = {
      part,
      users,
      indexOf: new Map(users.map((user, index) => [user, index])),
      store,
      pool,
      observe: () => undefined,
    };
    pool.on('lifecycle', (event) => current.observe(event));
    this.#part = current;
    const first = async (user: string, index: number): Promise<void> => {
      await sleep(Math.max(0, startAt + (index * rampMs) / count - Date.now()));
      await pool.getAccessToken(user);
    };
    const results = await Promise.allSettled(users.map(first));
    return {
      startupMs: Date.now() - startAt,
      failures: results.filter((result) => result.status === 'rejected').length,
    };
  }

  async #closePart(): Promise<void> {
    const part = this.#part;
    this.#part = undefined;
    if (part === undefined) return;
    part.pool.close();
    await part.store.close();
  }

  #current(): Part {
    if (this.#part === undefined) throw new Error('fleet replica: run a step before prepare');
    return this.#part;
  }

  /** One request: token (timed), then the resource with that bearer; counts go to `counts`. */
  async #request(
    part: Part,
    user: string,
    counts: FleetRequestCounts,
    http = true,
  ): Promise<{ served: boolean; tokenMs: number }> {
    counts.requests += 1;
    const asked = performance.now();
    let token: string;
    try {
      token = await part.pool.getAccessToken(user);
    } catch (error) {
      const code = failureKind(error);
      counts.tokenFailures[code] = (counts.tokenFailures[code] ?? 0) + 1;
      return { served: false, tokenMs: performance.now() - asked };
    }
    const tokenMs = performance.now() - asked;
    if (!http) {
      counts.ok += 1;
      return { served: true, tokenMs };
    }
    try {
      const response = await this.#http.api.get('/api/v2/cards', {
        headers: { Authorization: `Bearer ${token}`, [SANDBOX_USER_HEADER]: user },
        timeout: 5_000,
        validateStatus: () => true,
      });
      if (response.status === 200) counts.ok += 1;
      else if (response.status === 401) {
        counts.unauthorized += 1;
        part.pool.invalidate(user, token);
      } else if (response.status === 403) counts.wrongUser += 1;
      else countFailure(counts, `HTTP ${response.status}`);
    } catch (error) {
      countFailure(counts, failureKind(error));
    }
    return { served: true, tokenMs };
  }

  async #steady(step: Extract<FleetStep, { op: 'steady' }>): Promise<FleetSteadyReport> {
    const part = this.#current();
    const report: FleetSteadyReport = {
      counts: zeroCounts(),
      tokenLatenciesMs: [],
      obtained: [],
      adopted: 0,
      refreshRuns: 0,
      adoptedEvents: 0,
      redisCommands: {},
      lockOutcomes: { acquired: 0, published: 0, unavailable: 0 },
      storeFailures: 0,
      waitedMs: [],
      cpuMs: 0,
      eventLoopDelayP99Ms: 0,
      eventLoopDelayMaxMs: 0,
    };
    part.observe = (event) => {
      if (
        event.type === 'refresh-ended' &&
        (event.outcome === 'refreshed' || event.outcome === 'signed-in') &&
        event.accessTokenExpiresAt !== undefined
      ) {
        report.obtained.push([part.indexOf.get(event.session) ?? -1, event.at, event.accessTokenExpiresAt - event.at]);
      } else if (event.type === 'refresh-ended' && event.outcome === 'adopted') report.adopted += 1;
      else if (event.type === 'refresh-started') report.refreshRuns += 1;
      else if (event.type === 'adopted') report.adoptedEvents += 1;
      else if (event.type === 'lock-waited') report.lockOutcomes[event.outcome] += 1;
      else if (event.type === 'store-failed') report.storeFailures += 1;
      else if (event.type === 'token-waited') report.waitedMs.push(Math.round(event.durationMs));
    };
    await sleep(Math.max(0, step.startAt - Date.now()));
    // How busy this replica was: a saturated machine shows here before it shows as 401s.
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const cpuBefore = process.cpuUsage();
    const commandsBefore = new Map(sentCommands);
    const loop = async (user: string): Promise<void> => {
      // Start spread over one pause, so the loops do not run in step.
      await think(0, step.thinkMaxMs, step.endAt);
      while (Date.now() < step.endAt) {
        const { tokenMs } = await this.#request(part, user, report.counts, step.http !== false);
        report.tokenLatenciesMs.push(Math.round(tokenMs * 1000) / 1000);
        await think(step.thinkMinMs, step.thinkMaxMs, step.endAt);
      }
    };
    await Promise.all(part.users.map(loop));
    report.redisCommands = commandsSince(commandsBefore);
    delay.disable();
    const cpu = process.cpuUsage(cpuBefore);
    report.cpuMs = (cpu.user + cpu.system) / 1000;
    report.eventLoopDelayP99Ms = delay.percentile(99) / 1e6;
    report.eventLoopDelayMaxMs = delay.max / 1e6;
    part.observe = () => undefined;
    await this.#closePart();
    return report;
  }

  async #outage(step: Extract<FleetStep, { op: 'outage' }>): Promise<FleetOutageReport> {
    const part = this.#current();
    const phase = (): FleetOutagePhase => ({
      counts: zeroCounts(),
      servedMs: [],
      failedMs: [],
      authCallsStarted: 0,
      lockWaitsMs: [],
    });
    const report: FleetOutageReport = {
      before: phase(),
      during: phase(),
      after: phase(),
      firstServedAfterEndMs: [],
      neverServedAfterEnd: 0,
      breakerChanges: [],
      admittedDuringAt: [],
    };
    const phaseAt = (at: number): FleetOutagePhase =>
      at < step.outageStartAt ? report.before : at < step.outageEndAt ? report.during : report.after;
    part.observe = (event) => {
      if (event.type === 'auth-call-started') {
        const into = phaseAt(event.at);
        into.authCallsStarted += 1;
        if (into === report.during) report.admittedDuringAt.push(event.at);
      } else if (event.type === 'lock-waited')
        phaseAt(event.at).lockWaitsMs.push(Math.round(event.durationMs * 10) / 10);
      else if (event.type === 'breaker-changed') report.breakerChanges.push([event.at, event.state]);
    };
    const firstServed = new Map<string, number>();
    await sleep(Math.max(0, step.startAt - Date.now()));
    const loop = async (user: string): Promise<void> => {
      await think(0, step.thinkMaxMs, step.endAt);
      while (Date.now() < step.endAt) {
        const at = Date.now();
        const into = phaseAt(at);
        const { served, tokenMs } = await this.#request(part, user, into.counts);
        (served ? into.servedMs : into.failedMs).push(Math.round(tokenMs * 1000) / 1000);
        const doneAt = Date.now();
        if (served && doneAt >= step.outageEndAt && !firstServed.has(user))
          firstServed.set(user, doneAt - step.outageEndAt);
        await think(step.thinkMinMs, step.thinkMaxMs, step.endAt);
      }
    };
    await Promise.all(part.users.map(loop));
    part.observe = () => undefined;
    report.firstServedAfterEndMs = [...firstServed.values()];
    report.neverServedAfterEnd = part.users.length - firstServed.size;
    await this.#closePart();
    return report;
  }
}

function reply(message: FleetReplicaReply): void {
  process.send?.(message);
}

/**
 * The `--child fleet-replica` role: waits for its config, connects to the cluster, reports
 * ready, then runs each step it is sent (one at a time) until told to exit. Each wait for the
 * orchestrator is bounded, so an orphaned replica ends by itself.
 */
export function runFleetReplicaProcess(): void {
  countSentCommands();
  const main = async (): Promise<void> => {
    const first = await nextMessage<FleetReplicaRequest>(30_000);
    if (first.type !== 'config') throw new Error(`fleet replica: expected its config, got ${first.type}`);
    const replica = await FleetReplica.connect(first.config);
    reply({ type: 'ready' });
    try {
      for (;;) {
        const request = await nextMessage<FleetReplicaRequest>(120_000);
        if (request.type !== 'step') break;
        try {
          reply({ type: 'result', id: request.id, value: await replica.run(request.step) });
        } catch (error) {
          reply({ type: 'failed', id: request.id, error: describeError(error) });
        }
      }
    } finally {
      await replica.close();
    }
  };
  main()
    .catch((error: unknown) => reply({ type: 'failed', id: null, error: describeError(error) }))
    .finally(() => process.disconnect?.());
}
