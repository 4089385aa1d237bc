import { execFileSync, fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describeRedis, useRedisServer } from '../helpers/redis-server';

const REPLICAS = 4;
const IDENTITIES = ['alice', 'bob'];
const LIFETIME_MS = 1_500;
const REFRESH_BEFORE_EXPIRY_MS = 600;
const RUN_MS = 4_000;
const ROOT = path.resolve(__dirname, '../..');

/** Where {@link builtLibrary} builds when dist/ is stale: one directory per jest process. */
const BUILD_DIR = path.join(ROOT, 'node_modules', '.cache', `alix-redis-dist-${process.pid}`);

function removeBuild(): void {
  rmSync(BUILD_DIR, { recursive: true, force: true });
}

/** The newest modification time of any file under `dir`, in ms. */
function newestUnder(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((entry) => {
      const full = path.join(dir, entry.name);
      return entry.isDirectory() ? newestUnder(full) : statSync(full).mtimeMs;
    }),
  );
}

/**
 * The built library the replicas load: ALIX_DIST_DIR; else dist/ when it is newer than
 * every source file (npm test builds it first); else a CommonJS build of src made here, in
 * node_modules/.cache so that its dependencies resolve (removed by {@link removeBuild}).
 * A stale dist/ would test old code.
 */
function builtLibrary(): string {
  const fromEnv = process.env.ALIX_DIST_DIR;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const dist = path.join(ROOT, 'dist');
  const entries = ['index.js', 'redis.js'].map((name) => path.join(dist, name));
  if (entries.every((entry) => existsSync(entry) && statSync(entry).mtimeMs >= newestUnder(path.join(ROOT, 'src'))))
    return dist;
  const out = BUILD_DIR;
  mkdirSync(out, { recursive: true });
  const config = path.join(out, 'tsup.config.cjs');
  const options = {
    entry: { index: 'src/index.ts', redis: 'src/redis.ts' },
    format: ['cjs'],
    outDir: out,
    target: 'node20',
    platform: 'node',
    noExternal: ['p-retry', 'is-network-error'],
    silent: true,
  };
  writeFileSync(config, `module.exports = ${JSON.stringify(options)};\n`);
  execFileSync(path.join(ROOT, 'node_modules', '.bin', 'tsup'), ['--config', config], { cwd: ROOT, stdio: 'ignore' });
  return out;
}

interface AuthCall {
  kind: 'authenticate' | 'refresh';
  identity: string;
  at: number;
}

/** The shared auth server: counts calls, issues rotating tokens per identity, refuses a spent refresh token. */
function startAuthServer(): Promise<{
  url: string;
  calls: AuthCall[];
  issued: Set<string>;
  reusedRefreshTokens: string[];
  close: () => Promise<void>;
}> {
  const calls: AuthCall[] = [];
  const issued = new Set<string>();
  const reusedRefreshTokens: string[] = [];
  let serial = 0;
  const latestRefreshToken = new Map<string, string>();
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const kind = request.url === '/refresh' ? 'refresh' : 'authenticate';
      const { identity, refreshToken } = JSON.parse(body) as { identity: string; refreshToken?: string };
      calls.push({ kind, identity, at: Date.now() });
      const reply = (status: number, payload: unknown): void => {
        // A little latency, so replicas overlap as they would against the real API.
        setTimeout(
          () => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload)),
          30,
        );
      };
      if (kind === 'refresh' && refreshToken !== latestRefreshToken.get(identity)) {
        reusedRefreshTokens.push(String(refreshToken));
        reply(400, { message: 'refresh token already used' });
        return;
      }
      serial += 1;
      latestRefreshToken.set(identity, `${identity}-refresh-${serial}`);
      issued.add(`${identity}-access-${serial}`);
      const now = Date.now();
      reply(200, {
        accessToken: `${identity}-access-${serial}`,
        accessTokenExpiresAt: now + LIFETIME_MS,
        refreshToken: latestRefreshToken.get(identity),
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

describeRedis('RedisTokenStore across processes', () => {
  const redis = useRedisServer();
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    removeBuild();
  });

  it(`lets ${REPLICAS} processes make exactly one auth call per session per token lifetime, for ${IDENTITIES.length} sessions`, async () => {
    const library = builtLibrary();
    const auth = await startAuthServer();
    try {
      const run = `${process.pid}-${Date.now()}`;
      const identities = IDENTITIES.map((name) => `${name}-${run}`);
      const env = {
        ...process.env,
        ALIX_DIST_DIR: library,
        AUTH_URL: auth.url,
        REDIS_URL: `redis://${redis.host}:${redis.port}`,
        IDENTITIES: identities.join(','),
        REFRESH_BEFORE_EXPIRY_MS: String(REFRESH_BEFORE_EXPIRY_MS),
        EXPIRY_SKEW_MS: '100',
      };
      for (let index = 0; index < REPLICAS; index += 1) {
        children.push(
          fork(path.join(__dirname, '../helpers/redis-replica.cjs'), [], {
            env,
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          }),
        );
      }
      await Promise.all(children.map((child) => nextMessage(child, 'ready')));
      const reports = children.map((child) => nextMessage<ReplicaReport>(child, 'done'));
      for (const child of children) child.send({ type: 'start', durationMs: RUN_MS });
      const done = await Promise.all(reports);

      expect(done.flatMap((report) => report.failures)).toEqual([]);
      expect(auth.reusedRefreshTokens).toEqual([]);
      for (const identity of identities) {
        const calls = auth.calls.filter((call) => call.identity === identity);
        expect(calls.map((call) => call.kind)).toEqual(['authenticate', ...calls.slice(1).map(() => 'refresh')]);
        // One call per lifetime: each token is refreshed once, in its refresh window, by one replica.
        expect(calls.length).toBeGreaterThanOrEqual(3);
        const gaps = calls.slice(1).map((call, index) => call.at - (calls[index]?.at ?? 0));
        for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual((LIFETIME_MS - REFRESH_BEFORE_EXPIRY_MS) / 2);
      }
      expect(done.reduce((sum, report) => sum + report.refreshCount, 0)).toBe(auth.calls.length);
      const served = done.flatMap((report) => report.tokens);
      for (const token of served) expect(auth.issued).toContain(token);
      for (const identity of identities)
        expect(served.some((token) => token.startsWith(`${identity}-access-`))).toBe(true);
    } finally {
      await auth.close();
    }
  }, 30_000);
});
