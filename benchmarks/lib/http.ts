/** Loopback HTTP plumbing: a keep-alive server on its own thread, axios clients, send counting. */
import { Agent } from 'node:http';
import { Worker } from 'node:worker_threads';
import axios from 'axios';
import type { AxiosInstance, InternalAxiosRequestConfig } from 'axios';

const SERVER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const http = require('node:http');
const body = '{"success":true,"data":[]}';
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

/** A minimal keep-alive JSON server on 127.0.0.1, running in a worker thread (its own core). */
export interface LoopbackServer {
  url: string;
  close(): Promise<void>;
}

/** Starts {@link LoopbackServer}; `close()` terminates the worker and its sockets. */
export function startLoopbackServer(): Promise<LoopbackServer> {
  const worker = new Worker(SERVER_SOURCE, { eval: true });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (port: number) => {
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: async () => {
          await worker.terminate();
        },
      });
    });
  });
}

/**
 * An axios instance on its own keep-alive agent, so contenders never share sockets. With
 * `idleTimeoutMs` below the server's keep-alive timeout (5 s for node:http), an idle socket is
 * closed by the client first, so a request never races the server closing it (ECONNRESET).
 */
export function createClient(
  baseURL: string,
  maxSockets: number,
  headers: Record<string, string> = {},
  idleTimeoutMs?: number,
): { api: AxiosInstance; agent: Agent } {
  const agent = new Agent({
    keepAlive: true,
    maxSockets,
    ...(idleTimeoutMs === undefined ? {} : { timeout: idleTimeoutMs }),
  });
  const api = axios.create({ baseURL, httpAgent: agent, headers, proxy: false });
  return { api, agent };
}

/** The header that names a logical request, so its every send can be counted. */
export const REQUEST_ID_HEADER = 'x-bench-request';

/**
 * Wraps the instance's http adapter to count how often each logical request (by
 * {@link REQUEST_ID_HEADER}) actually goes on the wire, replays included.
 */
export function countSends(api: AxiosInstance): Map<string, number> {
  const counts = new Map<string, number>();
  const send = axios.getAdapter('http');
  api.defaults.adapter = (config: InternalAxiosRequestConfig) => {
    const id = String(config.headers.get(REQUEST_ID_HEADER) ?? '');
    counts.set(id, (counts.get(id) ?? 0) + 1);
    return send(config);
  };
  return counts;
}
