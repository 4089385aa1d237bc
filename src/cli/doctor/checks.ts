/**
 * The checks behind `alix-token doctor`. Each one returns rows of the report and never
 * throws: a failure is a row with status `failed`, so one broken part never hides the others.
 */
import { createHash, createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { monotonicClock, systemClock, withTimeout } from '../../clock';
import { ErrorCodes, errorCodeOf, isTokenManagerError } from '../../errors';
import type { AlixAuthProvider } from '../../providers/alix/provider';
import { createAlixSignature, verifyAlixSignature } from '../../sandbox/keys';
import type { TokenSet } from '../../token-set';
import { hostAndPort } from '../io';

/** Durations of round trips, in ms on the monotonic clock (never stepped with the wall clock). */
const monotonicNow = monotonicClock();

/** How one check ended. `warn` is reported but does not fail the run. */
export type DoctorCheckStatus = 'ok' | 'warn' | 'failed' | 'skipped';

/** One row of the doctor's report. No secret ever goes into it. */
export interface DoctorCheck {
  name: string;
  status: DoctorCheckStatus;
  /** One line saying what was found, or what is wrong and what to do. */
  detail: string;
  /** How long the check's own round trip took, in ms, when it made one. */
  durationMs?: number;
  /** The error code (`ERR_ALIX_…`) of a failure, when it was one of this library's errors. */
  errorCode?: string;
}

/** A row; `extra` adds `durationMs` or `errorCode`. */
export function row(name: string, status: DoctorCheckStatus, detail: string, extra?: Partial<DoctorCheck>) {
  return { name, status, detail, ...extra };
}

/** `sha256:<hex>` of the public key's SPKI DER, what `openssl pkey -pubin -outform DER | sha256sum` prints. */
export function publicKeyFingerprint(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/**
 * Signs a random probe with the private key and verifies it with the public half derived from
 * it, the same RSA-SHA256 PKCS#1 v1.5 scheme Alix verifies. The SHA-256 fingerprint of the
 * public key (SPKI DER) lets an operator compare it with the key they sent to Alix.
 */
export function checkPrivateKey(key: KeyObject): DoctorCheck {
  const name = 'private key';
  try {
    const publicKey = createPublicKey(key);
    const probe = `alix-token doctor probe ${randomUUID()}`;
    if (!verifyAlixSignature(publicKey, probe, '', createAlixSignature(key, probe, ''))) {
      return row(name, 'failed', 'a probe signed with the private key does not verify with its public half');
    }
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 'unknown';
    return row(name, 'ok', `RSA ${bits}-bit key signs and verifies; public key ${publicKeyFingerprint(publicKey)}`);
  } catch (error) {
    return row(name, 'failed', `cannot sign and verify with the key: ${messageOf(error)}`);
  }
}

/** Above this clock offset the report warns (the manager corrects skew, but logs and JWT checks elsewhere may not). */
export const CLOCK_OFFSET_WARN_MS = 30_000;

/** Below this remaining lifetime of a fresh access token the report warns, in ms. */
export const SHORT_LIFETIME_WARN_MS = 60_000;

/**
 * One real auth round trip (a refresh when a refresh token is configured, else a sign-in) to
 * `baseUrl`, and what it tells: its latency, the clock offset against the server's `Date`
 * header, and the lifetime of the token it returned. A failure's row carries its error code
 * (`ERR_ALIX_CONFIGURATION` makes the exit code 2 rather than 1).
 */
export async function checkAuth(
  provider: Pick<AlixAuthProvider, 'authenticate' | 'refresh'>,
  refreshToken: string | undefined,
  baseUrl: string,
): Promise<DoctorCheck[]> {
  const name = refreshToken === undefined ? 'sign-in' : 'refresh';
  const sentAt = systemClock.now();
  const startedAt = monotonicNow();
  let tokens: TokenSet;
  try {
    tokens = refreshToken === undefined ? await provider.authenticate() : await provider.refresh(refreshToken);
  } catch (error) {
    const durationMs = Math.round(monotonicNow() - startedAt);
    const errorCode = isTokenManagerError(error) ? { errorCode: error.code } : {};
    const needs = `needs a successful ${name}`;
    const skipped = ['clock offset', 'token lifetime'].map((check) => row(check, 'skipped', needs));
    return [row(name, 'failed', messageOf(error), { durationMs, ...errorCode }), ...skipped];
  }
  const durationMs = Math.round(monotonicNow() - startedAt);
  const receivedAt = systemClock.now();
  const spent = refreshToken === undefined ? '' : '; ALIX_REFRESH_TOKEN is now spent (refresh tokens rotate)';
  const answered = `POST to ${baseUrl} answered with a token set in ${durationMs} ms${spent}`;
  return [
    row(name, 'ok', answered, { durationMs }),
    clockOffsetCheck(tokens, sentAt, receivedAt),
    lifetimeCheck(tokens, tokens.serverTime ?? receivedAt),
  ];
}

/**
 * The server stamped `Date` (or the token's `iat`: whole seconds, rounded down) somewhere between sending and
 * receiving, so its true clock lay in [Date − received, Date + 1 s − sent] relative to ours.
 */
function clockOffsetCheck({ serverTime, serverTimeFrom }: TokenSet, sentAt: number, receivedAt: number): DoctorCheck {
  const name = 'clock offset';
  if (serverTime === undefined) return row(name, 'skipped', 'the server sent no Date header');
  const low = serverTime - receivedAt;
  const high = serverTime + 1_000 - sentAt;
  const offsetMs = Math.round((low + high) / 2);
  const errorMs = Math.round((high - low) / 2);
  const offset = `${seconds(Math.abs(offsetMs))} ${offsetMs >= 0 ? 'behind' : 'ahead of'}`;
  const [source, why] =
    serverTimeFrom === 'iat'
      ? ["the access token's iat claim", '; the Date header was behind it']
      : ["the server's Date header", ''];
  const detail = `local clock is ${offset} ${source} (± ${seconds(errorMs)}${why})`;
  const warning = `${detail}; the manager corrects for it, but sync the clock (NTP)`;
  if (Math.abs(offsetMs) - errorMs > CLOCK_OFFSET_WARN_MS) return row(name, 'warn', warning);
  return row(name, 'ok', detail);
}

function lifetimeCheck(tokens: TokenSet, reference: number): DoctorCheck {
  const accessMs = tokens.accessTokenExpiresAt - reference;
  const refreshAt = tokens.refreshTokenExpiresAt;
  const refresh = refreshAt === undefined ? 'no refresh token' : `refresh token ${duration(refreshAt - reference)}`;
  const detail = `access token ${duration(accessMs)}, ${refresh}`;
  if (accessMs < SHORT_LIFETIME_WARN_MS) return row('token lifetime', 'warn', `${detail}: shorter than a minute`);
  return row('token lifetime', 'ok', detail);
}

/** The few ioredis calls the doctor makes (structural, so ioredis stays an optional peer). */
export interface DoctorRedisClient {
  connect(): Promise<void>;
  ping(): Promise<string>;
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<string | null>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
  publish(channel: string, message: string): Promise<number>;
  spublish(channel: string, message: string): Promise<unknown>;
  info(section: string): Promise<string>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/**
 * Builds a client for `url`, with `cluster` one that follows the cluster's slot map from the node at `url`; rejects
 * (e.g. ioredis not installed) with an explaining error.
 */
export type DoctorRedisFactory = (url: string, options?: { cluster?: boolean }) => Promise<DoctorRedisClient>;

/** Runs one Redis command within {@link REDIS_STEP_TIMEOUT_MS}; `what` names it in the timeout's message. */
type RedisStep = <T>(work: Promise<T>, what: string) => Promise<T>;

/** The row of a refused key check: `fix` (the ACL rule) follows the error, unless Redis only redirected the key. */
type RedisRefusal = (name: string, status: DoctorCheckStatus, error: unknown, fix: string) => DoctorCheck;

/** Deadline of each Redis step (connect, PING, SET, EVAL, [S]PUBLISH), in ms. */
export const REDIS_STEP_TIMEOUT_MS = 5_000;

/**
 * The start of the doctor's own lock key, `{alix-token-manager:doctor:lock:<uuid>}`: it never touches a key a
 * manager uses, and starts with `{` as the store's keys do, so the ACL in docs/scaling.md (`~{alix-token-manager:*`)
 * covers it.
 */
export const DOCTOR_LOCK_KEY_PREFIX = '{alix-token-manager:doctor:lock:';

/**
 * The prefix of the shared auth breaker's keys (a RedisTokenStore's default `breaker.key`). The
 * doctor checks the commands the store's lock and breaker use on keys of its own, through a
 * client it makes, rather than through a store: it must name the command Redis refused.
 */
export const DOCTOR_BREAKER_KEY_PREFIX = 'alix-token-manager:breaker';

/**
 * The doctor publishes on a channel of its own under the store's channel pattern
 * (`{<key>}:published`, which the ACL in docs/scaling.md grants as `&{alix-token-manager:*`).
 */
export const DOCTOR_CHANNEL_PREFIX = '{alix-token-manager:doctor:';

const RELEASE_IF_OWNER =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/** What the breaker's scripts do to its keys (SET PX, INCR, PEXPIRE, PTTL, EXISTS, GET, DEL), on keys of its own. */
const BREAKER_PERMISSIONS = `
redis.call('SET', KEYS[1], '1', 'PX', 10000)
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 10000)
local left = redis.call('PTTL', KEYS[1]) + redis.call('EXISTS', KEYS[2])
redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
return left > 0 and 1 or 0
`;

/**
 * Redis round trip (PING), a lock taken and released the way the Redis store does it, and
 * whether this Redis user may use the shared auth breaker's keys the way its scripts do. A
 * refused breaker is not an outage (the store admits every call), but the fleet then calls the
 * auth server unguarded during one: a warning, with the ACL fix. Likewise whether it may PUBLISH
 * (SPUBLISH with sharded pub/sub) the store's hand-over notifications. On a Redis Cluster the key checks go
 * through a cluster client, so each runs under the ACL of the node that serves its key.
 */
export async function checkRedis(url: string | undefined, createClient: DoctorRedisFactory): Promise<DoctorCheck[]> {
  if (url === undefined) return [row('redis', 'skipped', 'REDIS_URL is not set')];
  const where = hostAndPort(url, 'REDIS_URL');
  let client: DoctorRedisClient;
  try {
    client = await createClient(url);
  } catch (error) {
    // A REDIS_URL the client cannot parse is bad configuration (exit 2); the row never repeats
    // the value, which may hold a password.
    // ioredis reports a bad percent-escape in the password as a bare URIError ("URI malformed").
    const invalid = errorCodeOf(error) === 'ERR_INVALID_URL' || error instanceof URIError;
    if (invalid || isTokenManagerError(error, ErrorCodes.CONFIGURATION)) {
      const fix = 'REDIS_URL is not a valid URL; expected redis[s]://[user:password@]host:port[/db]';
      return [row('redis', 'failed', fix, { errorCode: ErrorCodes.CONFIGURATION })];
    }
    return [row('redis', 'failed', messageOf(error))];
  }
  const step: RedisStep = (work, what) => {
    const late = `${what} got no answer from ${where} within ${REDIS_STEP_TIMEOUT_MS} ms`;
    return withTimeout(work, systemClock, REDIS_STEP_TIMEOUT_MS, () => new Error(late));
  };
  const checks: DoctorCheck[] = [];
  // Undefined when INFO is refused.
  let info: string | undefined;
  try {
    const startedAt = monotonicNow();
    await step(client.connect(), 'connect');
    const reply = await step(client.ping(), 'PING');
    const pingMs = Math.round(monotonicNow() - startedAt);
    info = await step(client.info('server'), 'INFO').catch(() => undefined);
    const detail = `${where} answered ${reply} (connect + PING ${pingMs} ms)${pubSubDetail(info)}`;
    checks.push(row('redis ping', reply === 'PONG' ? 'ok' : 'failed', detail, { durationMs: pingMs }));
  } catch (error) {
    client.disconnect();
    const failed = row('redis ping', 'failed', `${where}: ${messageOf(error)}`);
    return [failed, row('redis lock', 'skipped', 'needs a Redis connection')];
  }
  let keys = client;
  // A MOVED/ASK reply names a key served by another node: never an ACL problem, whatever the check's fix says.
  let redirected =
    info === undefined
      ? 'INFO is refused, so the doctor took it for a single server: allow +info (see docs/scaling.md)'
      : 'the slot map changed during the check (a failover or resharding): run it again';
  if (isCluster(info)) {
    let cluster: DoctorRedisClient | undefined;
    try {
      cluster = await createClient(url, { cluster: true });
      await step(cluster.connect(), 'connect (cluster)');
      keys = cluster;
    } catch (error) {
      cluster?.disconnect();
      redirected = 'no cluster client could connect (see the redis cluster row)';
      const needs =
        'an ioredis Cluster needs +cluster|slots, +cluster|info and every master reachable: docs/scaling.md';
      checks.push(row('redis cluster', 'failed', `${where}: ${messageOf(error)} (${needs})`));
    }
  }
  const refused: RedisRefusal = (name, status, error, fix) => {
    const found = `${where}: ${messageOf(error)}`;
    if (!/\b(MOVED|ASK) \d+ /.test(found)) return row(name, status, `${found}${fix}`);
    return row(name, 'warn', `${found}: the key is on another node of this Redis Cluster; ${redirected}`);
  };
  checks.push(await lockCheck(keys, step, where, refused));
  const tag = `{${DOCTOR_BREAKER_KEY_PREFIX}:doctor-${randomUUID()}}`;
  try {
    const done = await step(keys.eval(BREAKER_PERMISSIONS, 2, `${tag}:open`, `${tag}:failures`), 'EVAL');
    const used = `EVAL with SET PX, INCR, PEXPIRE, PTTL and DEL on ${DOCTOR_BREAKER_KEY_PREFIX}:* keys`;
    const lost = `the breaker's commands did not keep their expiry at ${where}`;
    checks.push(done === 1 ? row('redis breaker', 'ok', used) : row('redis breaker', 'warn', lost));
  } catch (error) {
    const fix =
      `The auth breaker will be off, so an outage is not contained: allow EVAL, SET, GET, DEL, EXISTS, INCR, ` +
      `PEXPIRE and PTTL on ~{${DOCTOR_BREAKER_KEY_PREFIX}:* (see docs/scaling.md)`;
    checks.push(refused('redis breaker', 'warn', error, `. ${fix}`));
  }
  checks.push(await publishCheck(keys, step, refused, info));
  for (const open of new Set([client, keys])) await step(open.quit(), 'QUIT').catch(() => open.disconnect());
  return checks;
}

async function lockCheck(client: DoctorRedisClient, step: RedisStep, where: string, refused: RedisRefusal) {
  const name = 'redis lock';
  const key = `${DOCTOR_LOCK_KEY_PREFIX}${randomUUID()}}`;
  const owner = randomUUID();
  const startedAt = monotonicNow();
  try {
    if ((await step(client.set(key, owner, 'PX', 10_000, 'NX'), 'SET NX')) !== 'OK') {
      return row(name, 'failed', `SET NX PX on a fresh key did not answer OK at ${where}`);
    }
    if ((await step(client.set(key, randomUUID(), 'PX', 10_000, 'NX'), 'SET NX')) !== null) {
      return row(name, 'failed', `a second SET NX took a held lock at ${where}: locks would not exclude each other`);
    }
    const released = await step(client.eval(RELEASE_IF_OWNER, 1, key, owner), 'EVAL');
    const durationMs = Math.round(monotonicNow() - startedAt);
    const detail = `SET NX PX, a refused second SET NX and an owner-checked DEL in ${durationMs} ms`;
    const kept = `the owner-checked DEL did not release the lock at ${where}`;
    return released === 1 ? row(name, 'ok', detail, { durationMs }) : row(name, 'failed', kept, { durationMs });
  } catch (error) {
    const needs = `the Redis user needs SET, GET, DEL and EVAL on ${DOCTOR_LOCK_KEY_PREFIX}*`;
    return refused(name, 'failed', error, ` (${needs})`);
  }
}

/**
 * Whether this Redis user may publish with the command a store on this server would use (`info` is its
 * `INFO server` answer, undefined when refused) to hand a new session over. A refused one fails no write
 * (the store logs `store-publish-failed` and waiters poll), so it is a warning: slower hand-overs, with the
 * ACL rule that restores them.
 */
async function publishCheck(client: DoctorRedisClient, step: RedisStep, refused: RedisRefusal, info?: string) {
  const name = 'redis publish';
  const command = publishCommand(info);
  const channel = `${DOCTOR_CHANNEL_PREFIX}${randomUUID()}}:published`;
  try {
    const published = command === 'SPUBLISH' ? client.spublish(channel, 'doctor') : client.publish(channel, 'doctor');
    await step(published, command);
    return row(name, 'ok', `${command} on ${DOCTOR_CHANNEL_PREFIX}…}:published (the store's hand-over notifications)`);
  } catch (error) {
    const fix =
      'Hand-overs will be slower (waiters poll every pollIntervalMs instead of hearing each new session): ' +
      `allow +${command.toLowerCase()} on &{alix-token-manager:* (see docs/scaling.md)`;
    return refused(name, 'warn', error, `. ${fix}`);
  }
}

/**
 * How a `RedisTokenStore` on this server would notify: sharded pub/sub (`SPUBLISH`) on a
 * cluster of Redis ≥ 7, classic `PUBLISH` otherwise (as the store detects it at start).
 */
export function pubSubDetail(info: string | undefined): string {
  if (info === undefined) return '; pub/sub mode unknown (INFO refused)';
  if (publishCommand(info) === 'SPUBLISH') return '; pub/sub: sharded (SPUBLISH/SSUBSCRIBE, Redis Cluster ≥ 7)';
  return `; pub/sub: classic (PUBLISH/SUBSCRIBE${isCluster(info) ? ', a cluster before Redis 7' : ''})`;
}

/**
 * The command a `RedisTokenStore` on the server that answered `INFO server` with `info` publishes with
 * (PUBLISH when INFO was refused).
 */
function publishCommand(info = ''): 'SPUBLISH' | 'PUBLISH' {
  const major = Number(/redis_version:(\d+)/.exec(info)?.[1] ?? '0');
  return isCluster(info) && major >= 7 ? 'SPUBLISH' : 'PUBLISH';
}

/** Whether `INFO server` (its answer `info`, undefined when refused) says Redis Cluster. */
function isCluster(info = ''): boolean {
  return /redis_mode:cluster/.test(info);
}

/** An error's message (this library's hold no secrets; a Redis or network error's names no secret), with its code. */
export function messageOf(error: unknown): string {
  // The doctor is already running: its own name as the next step would send the reader in a circle.
  if (isTokenManagerError(error))
    return error.message.replace(/,? or run alix-token doctor(?=\.|$)|run alix-token doctor and /, '');
  if (!(error instanceof Error)) return String(error);
  const code = errorCodeOf(error);
  return code === undefined ? error.message : `${error.message} (${code})`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A lifetime as `15m 0s`, `179d 23h`. */
function duration(ms: number): string {
  if (ms <= 0) return 'already expired';
  const totalSeconds = Math.floor(ms / 1000);
  const days = Math.floor(totalSeconds / 86_400);
  const hours = Math.floor((totalSeconds % 86_400) / 3_600);
  const minutes = Math.floor((totalSeconds % 3_600) / 60);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  return `${minutes}m ${totalSeconds % 60}s`;
}
