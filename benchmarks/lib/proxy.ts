/**
 * A counting front door: a loopback HTTP proxy in front of one shared sandbox, one per group
 * of replicas, so each group's auth calls and 401s are counted apart while every group talks
 * to the same auth server.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SANDBOX_PATHS } from '../../src/sandbox/index';

export interface ProxyCounts {
  authenticate: number;
  refresh: number;
  resourceRequests: number;
  resource401s: number;
  /** Requests the proxy could not forward (answered 502). */
  proxyErrors: number;
}

export interface CountingProxy {
  url: string;
  counts(): ProxyCounts;
  reset(): void;
  close(): Promise<void>;
}

const zero = (): ProxyCounts => ({ authenticate: 0, refresh: 0, resourceRequests: 0, resource401s: 0, proxyErrors: 0 });

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let counts = zero();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === SANDBOX_PATHS.authenticate) counts.authenticate += 1;
    else if (path === SANDBOX_PATHS.refresh) counts.refresh += 1;
    else if (path === SANDBOX_PATHS.cards) counts.resourceRequests += 1;
    const body: Buffer[] = [];
    req.on('data', (chunk: Buffer) => body.push(chunk));
    req.on('end', () => forward(true));
    const forward = (mayRetry: boolean): void => {
      const outgoing = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
          agent,
          timeout: 10_000,
        },
        (answer) => {
          if (path === SANDBOX_PATHS.cards && answer.statusCode === 401) counts.resource401s += 1;
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      let failed = false;
      const fail = (error?: NodeJS.ErrnoException): void => {
        if (failed) return;
        failed = true;
        outgoing.destroy();
        // A kept-alive socket the sandbox closed as this request went out: Node's advice is one resend.
        if (mayRetry && outgoing.reusedSocket && error?.code === 'ECONNRESET' && !res.headersSent)
          return forward(false);
        counts.proxyErrors += 1;
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      };
      outgoing.on('timeout', fail);
      outgoing.on('error', fail);
      outgoing.end(Buffer.concat(body));
    };
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts: () => ({ ...counts }),
    reset: () => {
      counts = zero();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
