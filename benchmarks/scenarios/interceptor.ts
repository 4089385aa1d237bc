/**
 * Scenario 2, interceptor overhead: requests/s through axios with `attachTokenManager`
 * against the same kind of instance with a static `Authorization` header, same concurrency,
 * against a keep-alive node:http server on its own thread.
 */
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

export interface InterceptorResult {
  runs: InterceptorRun[];
  concurrency: number;
  sliceMs: number;
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
    return { runs, concurrency: CONCURRENCY, sliceMs };
  } finally {
    detach();
    manager.close();
    ours.agent.destroy();
    plain.agent.destroy();
    await server.close();
  }
}
