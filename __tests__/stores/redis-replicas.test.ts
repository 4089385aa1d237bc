import { execFileSync, fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { useRedisServer } from '../helpers/redis-server';

const redis = useRedisServer();

const REPLICAS = 4;
const LIFETIME_MS = 1_500;
const REFRESH_BEFORE_EXPIRY_MS = 600;
const RUN_MS = 4_000;
const ROOT = path.resolve(__dirname, '../..');

/**
 * The built library the replicas load: ALIX_DIST_DIR, else dist/ when it has the redis
 * entry (npm test builds it first), else a CommonJS build of src made here.
 */
function builtLibrary(): string {
  const fromEnv = process.env.ALIX_DIST_DIR;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const dist = path.join(ROOT, 'dist');
  if (existsSync(path.join(dist, 'index.js')) && existsSync(path.join(dist, 'redis.js'))) return dist;
  const out = mkdtempSync(path.join(os.tmpdir(), 'alix-redis-dist-'));
  const tsup = path.join(ROOT, 'node_modules', '.bin', 'tsup');
  execFileSync(tsup, ['src/index.ts', 'src/redis.ts', '--format', 'cjs', '--out-dir', out, '--no-config', '--target', 'node20'], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  return out;
}

interface AuthCall {
  kind: 'authenticate' | 'refresh';
  at: number;
}

/** The shared auth server: counts calls, issues rotating tokens, refuses a spent refresh token. */
function startAuthServer(): Promise<{ url: string; calls: AuthCall[]; issued: Set<string>; reusedRefreshTokens: string[]; close: () => Promise<void> }> {
  const calls: AuthCall[] = [];
  const issued = new Set<string>();
  const reusedRefreshTokens: string[] = [];
  let serial = 0;
  let latestRefreshToken: string | undefined;
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const kind = request.url === '/refresh' ? 'refresh' : 'authenticate';
      calls.push({ kind, at: Date.now() });
      const reply = (status: number, payload: unknown): void => {
        // A little latency, so replicas overlap as they would against the real API.
        setTimeout(() => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload)), 30);
      };
      if (kind === 'refresh') {
        const { refreshToken } = JSON.parse(body) as { refreshToken: string };
        if (refreshToken !== latestRefreshToken) {
          reusedRefreshTokens.push(refreshToken);
          reply(400, { message: 'refresh token already used' });
          return;
        }
      }
      serial += 1;
      latestRefreshToken = `refresh-${serial}`;
      issued.add(`access-${serial}`);
      const now = Date.now();
      reply(200, {
        accessToken: `access-${serial}`,
        accessTokenExpiresAt: now + LIFETIME_MS,
        refreshToken: latestRefreshToken,
        refreshTokenExpiresAt: now + 60 * 60_000,
      });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        calls,
        issued,
        reusedRefreshTokens,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

interface ReplicaReport {
  type: 'done';
  calls: number;
  failures: string[];
  tokens: string[];
  refreshCount: number;
}

function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string; message?: string }): void => {
      if (message.type === type) resolve(message as T);
      else if (message.type === 'crashed') reject(new Error(`replica crashed: ${message.message}`));
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`replica exited with code ${code} before '${type}'`)));
  });
}

describe('RedisTokenStore across processes', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  it(`lets ${REPLICAS} processes make exactly one auth call per token lifetime`, async () => {
    if (!redis.available) return;
    const library = builtLibrary();
    const auth = await startAuthServer();
    try {
      const env = {
        ...process.env,
        ALIX_DIST_DIR: library,
        AUTH_URL: auth.url,
        REDIS_URL: `redis://${redis.host}:${redis.port}`,
        SESSION_KEY: redis.uniqueKey('session'),
        REFRESH_BEFORE_EXPIRY_MS: String(REFRESH_BEFORE_EXPIRY_MS),
        EXPIRY_SKEW_MS: '100',
      };
      for (let index = 0; index < REPLICAS; index += 1) {
        children.push(fork(path.join(__dirname, '../helpers/redis-replica.cjs'), [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
      }
      await Promise.all(children.map((child) => nextMessage(child, 'ready')));
      const reports = children.map((child) => nextMessage<ReplicaReport>(child, 'done'));
      for (const child of children) child.send({ type: 'start', durationMs: RUN_MS });
      const done = await Promise.all(reports);

      expect(done.flatMap((report) => report.failures)).toEqual([]);
      expect(auth.reusedRefreshTokens).toEqual([]);
      expect(auth.calls.map((call) => call.kind)).toEqual(['authenticate', ...auth.calls.slice(1).map(() => 'refresh')]);
      // One call per lifetime: each token is refreshed once, in its refresh window, by one replica.
      expect(auth.calls.length).toBeGreaterThanOrEqual(3);
      const gaps = auth.calls.slice(1).map((call, index) => call.at - (auth.calls[index]?.at ?? 0));
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual((LIFETIME_MS - REFRESH_BEFORE_EXPIRY_MS) / 2);
      expect(done.reduce((sum, report) => sum + report.refreshCount, 0)).toBe(auth.calls.length);
      for (const token of done.flatMap((report) => report.tokens)) expect(auth.issued).toContain(token);
    } finally {
      await auth.close();
    }
  }, 30_000);
});
