import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as a local API saw it. */
export interface SeenRequest {
  path: string;
  auth: string | null;
}

/** A real HTTP server on 127.0.0.1 that records every request; `/always-401` rejects every token. */
export interface LocalApi {
  origin: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

export async function startLocalApi(): Promise<LocalApi> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://placeholder').pathname;
      const auth = req.headers.authorization ?? null;
      seen.push({ path, auth });
      const body = path === '/always-401' ? { error: 'invalid token' } : { auth };
      res
        .writeHead(path === '/always-401' ? 401 : 200, { 'content-type': 'application/json' })
        .end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Two local APIs for a describe block (the allowed origin and another), started before its tests,
 * closed after them, and forgetting what they saw before each test.
 */
export function useLocalApiPair(): { allowed: LocalApi; other: LocalApi } {
  const pair = {} as { allowed: LocalApi; other: LocalApi };
  beforeAll(async () => {
    [pair.allowed, pair.other] = await Promise.all([startLocalApi(), startLocalApi()]);
  });
  afterAll(async () => {
    await Promise.all([pair.allowed.close(), pair.other.close()]);
  });
  beforeEach(() => {
    pair.allowed.seen.length = 0;
    pair.other.seen.length = 0;
  });
  return pair;
}

/** An origin on 127.0.0.1 where nothing listens (a server was bound there, then closed). */
export async function closedOrigin(): Promise<string> {
  const api = await startLocalApi();
  await api.close();
  return api.origin;
}

/**
 * Every path under `root` (own properties, enumerable or not, symbols included; Map and Set
 * entries; strings and byte buffers) whose value contains `secret`. Getters are not called.
 */
export function pathsHolding(root: unknown, secret: string): string[] {
  const seen = new Set<unknown>();
  const found: string[] = [];
  const stack: Array<[unknown, string]> = [[root, 'error']];
  while (stack.length > 0) {
    const [value, path] = stack.pop() as [unknown, string];
    if (typeof value === 'string') {
      if (value.includes(secret)) found.push(path);
      continue;
    }
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null || seen.has(value)) continue;
    seen.add(value);
    if (ArrayBuffer.isView(value)) {
      if (Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1').includes(secret))
        found.push(path);
      continue;
    }
    if (value instanceof Map)
      for (const [key, entry] of value) stack.push([entry, `${path}.get(${String(key)})`], [key, `${path}.<key>`]);
    if (value instanceof Set) for (const entry of value) stack.push([entry, `${path}.<entry>`]);
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      if (descriptor !== undefined && 'value' in descriptor) stack.push([descriptor.value, `${path}.${String(key)}`]);
    }
  }
  return found;
}
