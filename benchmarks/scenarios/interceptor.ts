/**
 * Scenario 2, interceptor overhead: requests/s through axios with `attachTokenManager`
 * against the same kind of instance with a static `Authorization` header, same concurrency,
 * against a keep-alive node:http server on its own thread. Throughput ratios swing with the
 * machine's load, so the scenario also measures the CPU time the hook adds per request:
 * `process.cpuUsage()` over the same N requests through each instance, in interleaved runs.
 * Those requests end in an in-process transport: a socket round trip costs ~100× the hook, and
 * its jitter on a shared machine would bury a few microseconds. The CPU measurement runs with the
 * repo's axios and with axios 1.6.0, the oldest of the peer range (the `axios-1.6` dev-dependency
 * alias), runs of both interleaved. The 1.6.0 instances bring their transport as a function, so
 * the hook's per-request path is the one of a service whose only axios is 1.6.0.
 */
import axios from 'axios';
import axios16 from 'axios-1.6';
import type { AxiosInstance } from 'axios';
import { attachTokenManager } from '../../src/adapters/axios';
import { TokenManager } from '../../src/index';
import { FakeProvider } from '../lib/fakes';
import { createClient, startLoopbackServer } from '../lib/http';

export interface InterceptorRun {
  /** requests/s */
  ours: number;
  staticHeader: number;
  ratio: number;
}

/** CPU time (user + system, whole process) per request over the same `requests`, in µs. */
export interface InterceptorCpuRun {
  ours: number;
  staticHeader: number;
  /** ours − staticHeader: what attachTokenManager() costs per request. */
  added: number;
}

/** The CPU runs through one axios version's instances. */
export interface InterceptorCpuByAxios {
  /** `axios.VERSION` of the instances measured. */
  axios: string;
  /** Which axios of the repo this is. */
  role: 'dev dependency' | 'oldest supported peer';
  runs: InterceptorCpuRun[];
}

export interface InterceptorResult {
  runs: InterceptorRun[];
  concurrency: number;
  sliceMs: number;
  /** One entry per axios version: the repo's own, then the oldest supported peer. */
  cpuByAxios: InterceptorCpuByAxios[];
  /** Requests per CPU measurement. */
  cpuRequests: number;
}

/** Answers every request at once, in process: what remains is axios's pipeline and the hook. */
async function inProcessTransport<C>(
  config: C,
): Promise<{ data: string; status: number; statusText: string; headers: object; config: C; request: object }> {
  return { data: '', status: 200, statusText: 'OK', headers: {}, config, request: {} };
}

/** What the CPU measurement uses of an instance, whichever axios version made it. */
interface CpuClient {
  get(url: string): Promise<unknown>;
}

/** An attached instance and a static-header one of the same axios version. */
interface CpuContenders {
  axios: string;
  role: InterceptorCpuByAxios['role'];
  ours: CpuClient;
  staticHeader: CpuClient;
  detach: () => void;
}

const CONCURRENCY = 16;

/** `CONCURRENCY` loops of GETs for `sliceMs`; returns completed requests per second. */
async function rate(api: AxiosInstance, sliceMs: number): Promise<number> {
  const start = performance.now();
  const deadline = start + sliceMs;
  let done = 0;
  const loop = async (): Promise<void> => {
    // Bounded by time; the count cap is a second guard.
    for (let i = 0; i < 1_000_000 && performance.now() < deadline; i += 1) {
      await api.get('/api/v2/cards');
      done += 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  return done / ((performance.now() - start) / 1000);
}

/** `count` GETs over `CONCURRENCY` loops; returns the process's CPU µs per request. */
async function cpuPerRequest(api: CpuClient, count: number): Promise<number> {
  let issued = 0;
  const loop = async (): Promise<void> => {
    while (issued < count) {
      issued += 1;
      await api.get('/api/v2/cards');
    }
  };
  const before = process.cpuUsage();
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

export async function runInterceptor(quick: boolean): Promise<InterceptorResult> {
  const server = await startLoopbackServer();
  const manager = new TokenManager({ provider: new FakeProvider({ ttlMs: 60 * 60 * 1000 }) });
  await manager.getAccessToken();
  const ours = createClient(server.url, CONCURRENCY);
  const detach = attachTokenManager(ours.api, manager);
  const plain = createClient(server.url, CONCURRENCY, { Authorization: `Bearer ${'x'.repeat(300)}` });
  const contenders = { ours: ours.api, staticHeader: plain.api };

  const sliceMs = quick ? 150 : 500;
  const runCount = quick ? 2 : 9;
  try {
    // axios takes a few seconds of traffic to reach its steady speed; warm both up first.
    for (let round = 0; round < (quick ? 1 : 2); round += 1) {
      await rate(ours.api, sliceMs);
      await rate(plain.api, sliceMs);
    }
    const runs: InterceptorRun[] = [];
    for (let run = 0; run < runCount; run += 1) {
      const order = run % 2 === 0 ? (['ours', 'staticHeader'] as const) : (['staticHeader', 'ours'] as const);
      const rates = { ours: 0, staticHeader: 0 };
      for (const name of order) rates[name] = await rate(contenders[name], sliceMs);
      runs.push({ ...rates, ratio: rates.ours / rates.staticHeader });
    }
    const cpuRequests = quick ? 5_000 : 50_000;
    const staticHeaders = { Authorization: `Bearer ${'x'.repeat(300)}` };
    const latest = axios.create({ baseURL: server.url, adapter: inProcessTransport });
    const oldest = axios16.create({ baseURL: server.url, adapter: inProcessTransport });
    const cpuContenders: CpuContenders[] = [
      {
        axios: axios.VERSION,
        role: 'dev dependency',
        ours: latest,
        staticHeader: axios.create({ baseURL: server.url, adapter: inProcessTransport, headers: staticHeaders }),
        detach: attachTokenManager(latest, manager),
      },
      {
        axios: axios16.VERSION,
        role: 'oldest supported peer',
        ours: oldest,
        staticHeader: axios16.create({ baseURL: server.url, adapter: inProcessTransport, headers: staticHeaders }),
        detach: attachTokenManager(oldest, manager),
      },
    ];
    // Warm-up: every path optimised by the JIT before anything is counted.
    for (const contenders of cpuContenders) {
      for (const name of ['ours', 'staticHeader'] as const) await cpuPerRequest(contenders[name], cpuRequests);
    }
    const cpuByAxios: InterceptorCpuByAxios[] = cpuContenders.map(({ axios: version, role }) => ({
      axios: version,
      role,
      runs: [],
    }));
    for (let run = 0; run < runCount; run += 1) {
      const order = run % 2 === 0 ? (['ours', 'staticHeader'] as const) : (['staticHeader', 'ours'] as const);
      for (const [index, contenders] of cpuContenders.entries()) {
        const cpu = { ours: 0, staticHeader: 0 };
        for (const name of order) cpu[name] = await cpuPerRequest(contenders[name], cpuRequests);
        cpuByAxios[index]?.runs.push({ ...cpu, added: cpu.ours - cpu.staticHeader });
      }
    }
    for (const contenders of cpuContenders) contenders.detach();
    return { runs, concurrency: CONCURRENCY, sliceMs, cpuByAxios, cpuRequests };
  } finally {
    detach();
    manager.close();
    ours.agent.destroy();
    plain.agent.destroy();
    await server.close();
  }
}
