/**
 * A replay leaves nothing of the first attempt open: its response stream, its 401 body.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import type { AxiosError } from 'axios';
import { attachTokenManager } from '../../src/adapters/axios';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import { FakeTokenSource } from '../helpers/fake-token-source';

const ALLOWED = 'https://api.alix.example';

describe('replays leave nothing of the first attempt open', () => {
  it('axios responseType stream: the 401 response stream is released when the request is replayed', async () => {
    const server = http.createServer((req, res) => {
      req.resume();
      const rejected = req.headers.authorization === 'Bearer SECRET-0';
      res.writeHead(rejected ? 401 : 200, { 'content-type': 'text/plain' });
      // A body that does not end by itself: only the client can let the socket go.
      res.write('x'.repeat(1024));
      if (!rejected) res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const httpAdapter = axios.getAdapter('http');
    const bodies: Array<{ destroyed: boolean; readableEnded: boolean }> = [];
    const api = axios.create({
      baseURL: origin,
      responseType: 'stream',
      adapter: async (config) => {
        try {
          return await httpAdapter(config);
        } catch (error) {
          const data = (error as AxiosError).response?.data as { destroyed: boolean; readableEnded: boolean };
          if (data !== undefined) bodies.push(data);
          throw error;
        }
      },
    });
    const detach = attachTokenManager(api, new FakeTokenSource('SECRET'));
    const response = await api.get('/cards');
    detach();
    (response.data as { destroy(): void }).destroy();
    await new Promise((resolve) => setImmediate(resolve));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(response.status).toBe(200);
    // The first attempt's 401 body: still open, it holds its socket until the server ends it.
    expect(bodies.map((body) => body.destroyed || body.readableEnded)).toEqual([true]);
  });

  it('axios responseType stream: the 401 response stream is released when the replay cannot get a token', async () => {
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(401, { 'content-type': 'text/plain' });
      // A body that does not end by itself: only the client can let the socket go.
      res.write('x'.repeat(1024));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const source = new FakeTokenSource('SECRET');
    let calls = 0;
    source.getAccessToken = async () => {
      calls += 1;
      if (calls > 1) throw new Error('auth down');
      return 'SECRET-0';
    };
    const bodies: Array<{ destroyed: boolean; readableEnded: boolean }> = [];
    const httpAdapter = axios.getAdapter('http');
    const api = axios.create({
      baseURL: origin,
      responseType: 'stream',
      adapter: async (config) => {
        try {
          return await httpAdapter(config);
        } catch (error) {
          bodies.push((error as AxiosError).response?.data as { destroyed: boolean; readableEnded: boolean });
          throw error;
        }
      },
    });
    const detach = attachTokenManager(api, source);
    await expect(api.get('/cards')).rejects.toThrow('auth down');
    detach();
    await new Promise((resolve) => setImmediate(resolve));
    const released = bodies.map((body) => body.destroyed || body.readableEnded);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(released).toEqual([true]);
  });

  it('fetch: the 401 body is cancelled when the replay cannot get a token', async () => {
    let cancelled = 0;
    const source = new FakeTokenSource('SECRET');
    let calls = 0;
    source.getAccessToken = async () => {
      calls += 1;
      if (calls > 1) throw new Error('auth down');
      return 'SECRET-0';
    };
    const fakeFetch = async () =>
      new Response(new ReadableStream({ cancel: () => void (cancelled += 1) }), { status: 401 });
    const authorized = createAuthorizedFetch(source, { origins: [ALLOWED], fetch: fakeFetch as typeof fetch });
    await expect(authorized(`${ALLOWED}/cards`)).rejects.toThrow('auth down');
    await new Promise((resolve) => setImmediate(resolve));
    expect(cancelled).toBe(1);
  });
});
