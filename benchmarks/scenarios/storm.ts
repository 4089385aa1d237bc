/**
 * Scenario 8, 401 storm: one axios instance calls a healthy endpoint and, at the same time and
 * at full speed, an endpoint that answers 401 to every token (a permission error sent as 401).
 * The auth server takes 200 ms per call. Measured: auth calls, and the healthy endpoint's
 * throughput and p99 latency, beside the same load without the storm.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { attachTokenManager, TokenManager } from '../../src/index';
import { createClient } from '../lib/http';
import { SlowProvider } from '../lib/fakes';
import { quantile } from '../lib/stats';

/** What one storm (or calm) run measured. */
export interface StormRun {
  storm: boolean;
  durationMs: number;
  authCalls: number;
  healthyCalls: number;
  healthyP99Ms: number;
  storm401s: number;
}

/** Both runs of the scenario. */
export interface StormResult {
  authLatencyMs: number;
  calm: StormRun;
  storm: StormRun;
}

async function startServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const status = req.url?.startsWith('/forbidden') ? 401 : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? '{"success":true}' : '{"success":false}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function runOnce(url: string, storm: boolean, durationMs: number, authLatencyMs: number): Promise<StormRun> {
  const provider = new SlowProvider(authLatencyMs, { prefix: 'storm' });
  const manager = new TokenManager({ provider });
  const { api, agent } = createClient(url, 32);
  attachTokenManager(api, manager);
  await api.get('/healthy');
  const authBefore = provider.calls;
  const deadline = performance.now() + durationMs;
  const latencies: number[] = [];
  let storm401s = 0;
  const healthyLoop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const start = performance.now();
      await api.get('/healthy');
      latencies.push(performance.now() - start);
    }
  };
  const stormLoop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const status = await api.get('/forbidden', { validateStatus: () => true }).then((response) => response.status);
      if (status === 401) storm401s += 1;
    }
  };
  await Promise.all([
    ...Array.from({ length: 4 }, healthyLoop),
    ...(storm ? Array.from({ length: 4 }, stormLoop) : []),
  ]);
  manager.close();
  agent.destroy();
  return {
    storm,
    durationMs,
    authCalls: provider.calls - authBefore,
    healthyCalls: latencies.length,
    healthyP99Ms: quantile(latencies, 0.99),
    storm401s,
  };
}

export async function runStorm(quick: boolean): Promise<StormResult> {
  const server = await startServer();
  const durationMs = quick ? 1_000 : 5_000;
  const authLatencyMs = 200;
  try {
    const calm = await runOnce(server.url, false, durationMs, authLatencyMs);
    const storm = await runOnce(server.url, true, durationMs, authLatencyMs);
    return { authLatencyMs, calm, storm };
  } finally {
    await server.close();
  }
}
