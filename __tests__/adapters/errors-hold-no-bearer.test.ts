/**
 * Errors hold the bearer nowhere (own properties, util.inspect, toJSON()): transport errors of
 * axios's own fetch adapter, createAuthorizedFetch connection errors, and errors axios makes
 * after the transport answered.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import util from 'node:util';
import axios from 'axios';
import type { AxiosError } from 'axios';
import { attachTokenManager } from '../../src/adapters/axios';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import { FakeTokenSource } from '../helpers/fake-token-source';
import { closedOrigin, pathsHolding, startLocalApi } from './support/local-api';
import type { LocalApi } from './support/local-api';

/** A loopback server answering with `handler`; `close()` ends its open connections too. */
async function serve(handler: http.RequestListener): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Where `secret` can still be read from `error`: own properties (pathsHolding), util.inspect, toJSON(). */
function leaks(error: unknown, secret: string): string[] {
  const found = pathsHolding(error, secret);
  if (util.inspect(error, { depth: 20, showHidden: true }).includes(secret)) found.push('util.inspect');
  const json = (error as { toJSON?: () => unknown }).toJSON?.();
  if (json !== undefined && JSON.stringify(json).includes(secret)) found.push('toJSON');
  return found;
}

describe('fetch transport errors', () => {
  let api: LocalApi;
  beforeAll(async () => {
    api = await startLocalApi();
  });
  afterAll(async () => {
    await api.close();
  });

  it("hold the bearer nowhere when axios's own fetch adapter gets 401 twice", async () => {
    const token = `SECRET-${'z'.repeat(24)}`;
    const source = new FakeTokenSource(token);
    const instance = axios.create({ baseURL: api.origin, adapter: 'fetch' });
    const detach = attachTokenManager(instance, source);
    const error = (await instance.get('/always-401').catch((e: unknown) => e)) as AxiosError;
    detach();
    expect(error.response?.status).toBe(401);
    expect(leaks(error, `${token}-`)).toEqual([]);
  });

  it("hold the bearer nowhere when axios's own fetch adapter cannot connect", async () => {
    const token = `SECRET-${'w'.repeat(24)}`;
    const instance = axios.create({ baseURL: await closedOrigin(), adapter: 'fetch' });
    const detach = attachTokenManager(instance, new FakeTokenSource(token));
    const error = (await instance.post('/cards', 'body').catch((e: unknown) => e)) as AxiosError;
    detach();
    expect(axios.isAxiosError(error)).toBe(true);
    expect(leaks(error, `${token}-`)).toEqual([]);
  });

  it.each([
    ['a string', (url: string) => url],
    ['a Request', (url: string) => new Request(url, { method: 'POST', body: 'x' })],
  ])('createAuthorizedFetch: a connection error for %s input holds the bearer nowhere', async (_name, input) => {
    const token = `SECRET-${'v'.repeat(24)}`;
    const origin = await closedOrigin();
    const authorized = createAuthorizedFetch(new FakeTokenSource(token), { origins: [origin] });
    const error = await authorized(input(`${origin}/cards`)).catch((e: unknown) => e);
    expect((error as Error).name).toBe('TypeError');
    expect(leaks(error, `${token}-`)).toEqual([]);
  });
});

describe('errors axios makes after the transport answered', () => {
  let origin: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    // Answers 200 with a body that is not JSON, and never echoes a header.
    ({ origin, close } = await serve((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"truncated');
    }));
  });
  afterAll(() => close());

  it('a strict JSON parse failure (ERR_BAD_RESPONSE) holds the bearer nowhere', async () => {
    const token = `SECRET-${'j'.repeat(24)}`;
    const instance = axios.create({
      baseURL: origin,
      responseType: 'json',
      transitional: { silentJSONParsing: false },
    });
    const detach = attachTokenManager(instance, new FakeTokenSource(token));
    const error = (await instance.get('/cards').catch((e: unknown) => e)) as AxiosError;
    detach();
    expect(error.code).toBe('ERR_BAD_RESPONSE');
    expect(leaks(error, `${token}-`)).toEqual([]);
  });

  it('a CanceledError for a signal that fired as the response arrived holds the bearer nowhere', async () => {
    const token = `SECRET-${'c'.repeat(24)}`;
    const controller = new AbortController();
    const httpAdapter = axios.getAdapter('http');
    const instance = axios.create({
      baseURL: origin,
      // e.g. AbortSignal.timeout() firing between the response's end and axios's next step
      adapter: async (config) => {
        const response = await httpAdapter(config);
        controller.abort();
        return response;
      },
    });
    const detach = attachTokenManager(instance, new FakeTokenSource(token));
    const error = (await instance.get('/cards', { signal: controller.signal }).catch((e: unknown) => e)) as AxiosError;
    detach();
    expect(axios.isCancel(error)).toBe(true);
    expect(leaks(error, `${token}-`)).toEqual([]);
  });
});

describe('an error of a config re-sent through another axios instance', () => {
  it('holds the bearer nowhere: the config carries the attachment, not its response interceptor', async () => {
    const token = `SECRET-${'u'.repeat(24)}`;
    let calls = 0;
    const instance = axios.create({
      baseURL: 'https://api.alix.example',
      adapter: async (config) => {
        calls += 1;
        if (calls === 1) return { data: null, status: 200, statusText: 'OK', headers: {}, config };
        throw new axios.AxiosError('socket hang up', 'ECONNRESET', config);
      },
    });
    const detach = attachTokenManager(instance, new FakeTokenSource(token));
    const first = await instance.get('/cards');
    // e.g. a retry helper that re-sends a response's config with the global axios
    const error = (await axios.request({ ...first.config, url: '/cards/2' }).catch((e: unknown) => e)) as AxiosError;
    detach();
    expect(calls).toBe(2);
    expect(axios.isAxiosError(error)).toBe(true);
    expect(leaks(error, `${token}-`)).toEqual([]);
  });
});

describe("axios's HTTP/2 transport (httpVersion: 2)", () => {
  let server: http2.Http2Server;
  let origin: string;
  beforeAll(async () => {
    server = http2.createServer((_req, res) => res.writeHead(401).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  // The stream keeps the headers it sent (its `sentHeaders`) under a symbol of its own.
  it.each([
    ['answered 401 twice', () => origin],
    ['that cannot connect', closedOrigin],
  ])('an error of a request %s holds the bearer nowhere', async (_name, target) => {
    const token = `SECRET-${'h'.repeat(24)}`;
    const instance = axios.create({ baseURL: await target(), httpVersion: 2 });
    const detach = attachTokenManager(instance, new FakeTokenSource(token));
    const error = (await instance.get('/cards').catch((e: unknown) => e)) as AxiosError;
    detach();
    expect(axios.isAxiosError(error)).toBe(true);
    expect(leaks(error, `${token}-`)).toEqual([]);
  });
});

describe("an error whose body is a stream (responseType: 'stream')", () => {
  let origin: string;
  let close: () => Promise<void>;
  let arrived: () => void;
  beforeAll(async () => {
    // `/hold` is never answered (it stays in flight); anything else is answered 500.
    ({ origin, close } = await serve((req, res) => {
      req.resume();
      if (req.url === '/hold') arrived();
      else res.writeHead(500).end('down');
    }));
  });
  afterAll(() => close());

  it("shows no other session's bearer: the stream's request and socket lead to every request on the agent", async () => {
    const alice = new FakeTokenSource(`SECRET-alice-${'a'.repeat(24)}`);
    const bob = new FakeTokenSource(`SECRET-bob-${'b'.repeat(24)}`);
    const agent = new http.Agent();
    const instance = axios.create({ baseURL: origin, httpAgent: agent, responseType: 'stream' });
    const detach = attachTokenManager(instance, { get: (key: string) => (key === 'bob' ? bob : alice) });
    const onHold = new Promise<void>((resolve) => (arrived = resolve));
    const held = instance.get('/hold', { alixSession: 'bob' }).catch((e: unknown) => e);
    await onHold;

    const error = (await instance.get('/cards', { alixSession: 'alice' }).catch((e: unknown) => e)) as AxiosError;
    // Read while bob's request is still in flight.
    const printed = [
      util.inspect(error, { depth: Infinity }),
      util.inspect({ ...error.response }, { depth: Infinity }),
    ];
    agent.destroy();
    await held;
    detach();
    expect(error.response?.status).toBe(500);
    expect(printed.map((text) => text.includes('SECRET-'))).toEqual([false, false]);
  });
});

describe('an error whose body is JSON', () => {
  it('keeps the fields the server sent, even ones a stream would hide (req, socket, client)', async () => {
    const server = await serve((req, res) => {
      req.resume();
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"client":"c-1","socket":1,"req":"r"}');
    });
    const instance = axios.create({ baseURL: server.origin });
    const detach = attachTokenManager(instance, new FakeTokenSource(`SECRET-${'c'.repeat(24)}`));

    const error = (await instance.get('/cards').catch((e: unknown) => e)) as AxiosError;
    detach();
    await server.close();

    expect(JSON.stringify(error.response?.data)).toBe('{"client":"c-1","socket":1,"req":"r"}');
  });
});
