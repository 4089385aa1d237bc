/**
 * `alix-token doctor` (issue #10 item 6), run in-process against the real sandbox server,
 * with the same ALIX_* environment `alix-token token` reads.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { runDoctor, type DoctorOptions, type DoctorReport } from '../../src/cli/commands/doctor';
import { checkAuth, messageOf, type DoctorRedisClient, type DoctorRedisFactory } from '../../src/cli/doctor/checks';
import { AuthRejectedError, AuthUnavailableError, MalformedResponseError, TimeoutError } from '../../src/errors';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import type { AlixSandbox } from '../../src/sandbox/server';
import { makeRsaKeyPair } from '../helpers/alix-keys';
import { startSandboxWithEnv } from '../helpers/sandbox-env';
import { collectingStream } from '../helpers/streams';

let sandbox: AlixSandbox;
let env: Record<string, string>;
let scratch: string;

beforeAll(async () => {
  ({ sandbox, env, scratch } = await startSandboxWithEnv());
});
afterAll(() => sandbox.close());

/** Runs the doctor and returns its report and what it printed. */
async function doctor(
  options: DoctorOptions & { tty?: boolean } = {},
): Promise<{ report: DoctorReport; printed: string }> {
  const output = collectingStream({ isTTY: options.tty === true });
  const report = await runDoctor({ env, ...options, output: output.stream });
  return { report, printed: output.text() };
}

const statuses = (report: DoctorReport): Record<string, string> =>
  Object.fromEntries(report.checks.map((check) => [check.name, check.status]));

describe('alix-token doctor', () => {
  it('exits 0 when everything is good, and prints JSON when stdout is not a TTY', async () => {
    const { report, printed } = await doctor();

    expect(report).toMatchObject({ ok: true, exitCode: 0, failed: [] });
    expect(statuses(report)).toEqual({
      configuration: 'ok',
      'private key': 'ok',
      'sign-in': 'ok',
      'clock offset': 'ok',
      'token lifetime': 'ok',
      redis: 'skipped',
    });
    expect(JSON.parse(printed)).toEqual(report);
    expect(report.checks.find((check) => check.name === 'token lifetime')?.detail).toMatch(
      /^access token 1[45]m \d+s, refresh token (179d 23h|180d 0h)$/,
    );
    expect(printed).not.toContain(sandbox.secretKey);
    expect(printed).not.toMatch(/eyJ/);
  });

  it('prints a table on a TTY', async () => {
    const { printed } = await doctor({ tty: true });

    expect(printed).toMatch(/^ {2}ok {4}configuration +partner /);
    expect(printed).toMatch(/^ {2}skip {2}redis +REDIS_URL is not set$/m);
    expect(printed.endsWith('\nAll checks passed.\n')).toBe(true);
  });

  it('--json forces JSON on a TTY', async () => {
    const { printed, report } = await doctor({ tty: true, json: true });

    expect(JSON.parse(printed)).toEqual(report);
  });

  it('exits 1 naming the sign-in when the key is not the one Alix holds (the local key check passes)', async () => {
    const otherKeyFile = path.join(scratch, 'other-key.pem');
    writeFileSync(otherKeyFile, makeRsaKeyPair().privatePem, { mode: 0o600 });

    const { report, printed } = await doctor({ env: { ...env, ALIX_PRIVATE_KEY_FILE: otherKeyFile }, tty: true });

    expect(report).toMatchObject({ ok: false, exitCode: 1, failed: ['sign-in'] });
    expect(statuses(report)).toMatchObject({
      'private key': 'ok',
      'sign-in': 'failed',
      'clock offset': 'skipped',
      'token lifetime': 'skipped',
    });
    const signIn = report.checks.find((check) => check.name === 'sign-in');
    expect(signIn).toMatchObject({ errorCode: 'ERR_ALIX_AUTH_REJECTED' });
    expect(signIn?.detail).toContain('errorCode 12');
    expect(signIn?.detail).toContain('ALIX_SECRET_KEY');
    expect(printed).toMatch(/1 check failed: sign-in\n$/);
  });

  it('names a wrong partner code without sending the reader back to alix-token doctor', async () => {
    const { report } = await doctor({ env: { ...env, ALIX_PARTNER_CODE: 'my-partner' } });

    const signIn = report.checks.find((check) => check.name === 'sign-in');
    expect(signIn?.detail).toContain('errorCode 11: The partner code is not recognised. Check partnerCode');
    expect(signIn?.detail).not.toContain('alix-token doctor');
  });

  it('never sends the reader back to alix-token doctor, whatever the auth server answers', async () => {
    sandbox.injectFaults(1, { type: 'status', status: 503 });
    const { report } = await doctor();
    sandbox.clearFaults();

    const signIn = report.checks.find((check) => check.name === 'sign-in');
    expect(signIn).toMatchObject({ status: 'failed', errorCode: 'ERR_ALIX_AUTH_UNAVAILABLE' });
    expect(signIn?.detail).toContain('if this persists, ask Alix about it');
    expect(JSON.stringify(report)).not.toContain('alix-token doctor');
  });

  it.each<[string, Error]>([
    ['a rejected sign-in', new AuthRejectedError({ operation: 'authenticate', status: 400, errorCode: 11 })],
    ...(['http', 'timeout', 'network'] as const).map((reason): [string, Error] => [
      `an unavailable server (${reason})`,
      new AuthUnavailableError({ operation: 'refresh', reason }),
    ]),
    ['a malformed answer', new MalformedResponseError('no token set', { operation: 'authenticate' })],
    ['an auth timeout', new TimeoutError({ stage: 'auth', timeoutMs: 1_000 })],
  ])('reports %s with its next step but the doctor itself', (_label, error) => {
    expect(error.message).toContain('alix-token doctor');
    expect(messageOf(error)).not.toContain('alix-token doctor');
    expect(messageOf(error)).toMatch(/\.$/);
  });

  it('exits 2 on a missing variable, naming it', async () => {
    const { report } = await doctor({ env: { ALIX_SECRET_KEY: 'secret-value' } });

    expect(report).toMatchObject({ ok: false, exitCode: 2, failed: ['configuration'] });
    expect(report.checks[0]?.detail).toContain('ALIX_BASE_URL');
    expect(JSON.stringify(report)).not.toContain('secret-value');
  });

  it('lets an unexpected error out as it is, not as a configuration row', async () => {
    const bug = new TypeError('a bug');
    const broken = Object.defineProperty({ ...env }, 'ALIX_PARTNER_CODE', {
      enumerable: true,
      get: () => {
        throw bug;
      },
    });

    await expect(doctor({ env: broken })).rejects.toBe(bug);
  });

  it('exits 2 on a bad value, naming its variable and not the value', async () => {
    const env = { ALIX_BASE_URL: 'not a url', ALIX_PARTNER_CODE: 'p', ALIX_SECRET_KEY: 'secret-value' };
    const { report } = await doctor({ env: { ...env, ALIX_PRIVATE_KEY_FILE: '/nonexistent/key.pem' } });

    expect(report).toMatchObject({ ok: false, exitCode: 2, failed: ['configuration'] });
    expect(report.checks[0]?.detail).toMatch(/^ALIX_BASE_URL: baseUrl /);
    expect(JSON.stringify(report)).not.toContain('secret-value');
  });

  it('refreshes instead of signing in when ALIX_REFRESH_TOKEN is set', async () => {
    const provider = new AlixAuthProvider({
      baseUrl: sandbox.url,
      partnerCode: sandbox.partnerCode,
      secretKey: sandbox.secretKey,
      privateKey: sandbox.privateKeyPem,
    });
    const { refreshToken } = await provider.authenticate();
    const before = sandbox.counters();

    const { report } = await doctor({ env: { ...env, ALIX_REFRESH_TOKEN: refreshToken ?? '' } });

    expect(statuses(report)).toMatchObject({ refresh: 'ok' });
    expect(sandbox.counters()).toMatchObject({ refresh: before.refresh + 1, authenticate: before.authenticate });
  });

  it("warns about a clock two minutes behind the server's Date header", async () => {
    sandbox.shiftClock(120_000);
    try {
      const { report } = await doctor();

      const offset = report.checks.find((check) => check.name === 'clock offset');
      expect(offset?.status).toBe('warn');
      expect(offset?.detail).toMatch(/^local clock is 1(19|2[01])\.\d s behind the server's Date header/);
      expect(report.exitCode).toBe(0);
    } finally {
      sandbox.shiftClock(-120_000);
    }
  });

  it("names the token's iat as the server's time when the Date header was behind it (a proxy's clock)", async () => {
    // The issuer stamps the token now; the Date header comes from a clock an hour behind it.
    const nowS = Math.floor(Date.now() / 1000);
    const jwt = [{ alg: 'HS256' }, { iat: nowS, exp: nowS + 900 }].map((part) =>
      Buffer.from(JSON.stringify(part)).toString('base64url'),
    );
    const data = {
      accessToken: `${jwt.join('.')}.c2ln`,
      accessTokenExpiresAt: String(nowS + 900),
      refreshToken: 'refresh-1',
      refreshTokenExpiresAt: String(nowS + 86_400),
    };
    const server = createServer((_request, response) => {
      response.writeHead(200, {
        'Content-Type': 'application/json',
        Date: new Date((nowS - 3600) * 1000).toUTCString(),
      });
      response.end(JSON.stringify({ success: true, message: 'ok', errorCode: 0, data }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const keys = { partnerCode: 'p', secretKey: 's', privateKey: makeRsaKeyPair().privatePem };
      const checks = await checkAuth(new AlixAuthProvider({ baseUrl, ...keys }), undefined, baseUrl);

      const offset = checks.find((check) => check.name === 'clock offset');
      expect(offset?.status).toBe('ok');
      expect(offset?.detail).toMatch(/^local clock is \d+\.\d s (behind|ahead of) the access token's iat claim \(/);
      expect(offset?.detail).toContain('the Date header was behind it');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('warns when a fresh access token lives less than a minute', async () => {
    const serverTime = Date.now();
    const tokens = { accessToken: 'short-lived', accessTokenExpiresAt: serverTime + 30_000, serverTime };
    const provider = { authenticate: async () => tokens, refresh: async () => tokens };

    const checks = await checkAuth(provider, undefined, 'https://alix.example');

    expect(checks.find((check) => check.name === 'token lifetime')).toMatchObject({
      status: 'warn',
      detail: 'access token 0m 30s, no refresh token: shorter than a minute',
    });
  });

  it('says a token issued already expired is, and gives a lifetime of hours in hours and minutes', async () => {
    const serverTime = Date.now();
    const tokens = {
      accessToken: 'expired',
      accessTokenExpiresAt: serverTime,
      refreshTokenExpiresAt: serverTime + 7_500_000,
      serverTime,
    };
    const provider = { authenticate: async () => tokens, refresh: async () => tokens };

    const checks = await checkAuth(provider, undefined, 'https://alix.example');

    expect(checks.find((check) => check.name === 'token lifetime')).toMatchObject({
      status: 'warn',
      detail: 'access token already expired, refresh token 2h 5m: shorter than a minute',
    });
  });

  describe('with REDIS_URL', () => {
    const redisEnv = (): Record<string, string> => ({ ...env, REDIS_URL: 'redis://127.0.0.1:6390' });

    it('checks a round trip, a lock, the breaker and PUBLISH, then ends the connection with QUIT', async () => {
      const ended: string[] = [];
      const { report } = await doctor({ env: redisEnv(), createRedisClient: async () => fakeRedis({}, ended) });

      expect(statuses(report)).toMatchObject({
        'redis ping': 'ok',
        'redis lock': 'ok',
        'redis breaker': 'ok',
        'redis publish': 'ok',
      });
      expect(report.exitCode).toBe(0);
      expect(ended).toEqual(['quit']);
    });

    it('probes with SPUBLISH on a Redis 7 cluster, where the store uses sharded pub/sub, and names it', async () => {
      const cluster = { info: 'redis_version:7.0.15\r\nredis_mode:cluster\r\n' };
      const publishRow = async (faults: RedisFaults) => {
        const { report } = await doctor({ env: redisEnv(), createRedisClient: async () => fakeRedis(faults) });
        return report.checks.find((check) => check.name === 'redis publish');
      };

      expect(await publishRow(cluster)).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^SPUBLISH on /) });
      expect(await publishRow({ ...cluster, spublishRefused: true })).toMatchObject({
        status: 'warn',
        detail: expect.stringMatching(/NOPERM.*allow \+spublish on &\{alix-token-manager:\*/),
      });
    });

    it('checks the keys of a Redis Cluster through a cluster client; a MOVED reply is no ACL problem', async () => {
      const info = 'redis_version:7.0.15\r\nredis_mode:cluster\r\n';
      const [made, ended]: [unknown[], string[]] = [[], []];
      const clusterAware: DoctorRedisFactory = async (_url, options) => {
        made.push(options);
        return fakeRedis({ info }, ended);
      };
      const { report } = await doctor({ env: redisEnv(), createRedisClient: clusterAware });

      expect(made).toEqual([undefined, { cluster: true }]);
      expect(new Set(report.checks.map((check) => check.status))).toEqual(new Set(['ok']));
      expect(ended).toEqual(['quit', 'quit']);

      const noCluster: DoctorRedisFactory = async (_url, options) => {
        if (options?.cluster === true) throw new Error('Failed to refresh slots cache.');
        return fakeRedis({ info, moved: true });
      };
      const { report: moved } = await doctor({ env: redisEnv(), createRedisClient: noCluster });

      expect(moved).toMatchObject({ exitCode: 1, failed: ['redis cluster'] });
      expect(moved.checks.find((check) => check.name === 'redis cluster')?.detail).toMatch(
        /slots cache.*cluster\|info/,
      );
      for (const name of ['redis lock', 'redis breaker', 'redis publish']) {
        expect(moved.checks.find((check) => check.name === name)).toMatchObject({
          status: 'warn',
          detail: expect.stringMatching(
            /^127\.0\.0\.1:6390: MOVED 1234 \S+: the key is on another node .*redis cluster row/,
          ),
        });
      }
    });

    it('drops the cluster client whose connect fails, and reports it', async () => {
      const info = 'redis_version:7.0.15\r\nredis_mode:cluster\r\n';
      const ended: string[] = [];
      const unreachable: DoctorRedisFactory = async (_url, options) =>
        options?.cluster === true ? fakeRedis({ refuse: true }, ended) : fakeRedis({ info });
      const { report } = await doctor({ env: redisEnv(), createRedisClient: unreachable });

      expect(report).toMatchObject({ exitCode: 1, failed: ['redis cluster'] });
      expect(ended).toEqual(['disconnect']);
    });

    it('treats a blank REDIS_URL as unset', async () => {
      const { report } = await doctor({ env: { ...env, REDIS_URL: '  ' }, createRedisClient: async () => fakeRedis() });

      expect(statuses(report)).toMatchObject({ redis: 'skipped' });
      expect(report.exitCode).toBe(0);
    });

    it.each([
      ['a second SET NX is not refused', { nxIgnored: true }, /a second SET NX took/],
      ['the owner-checked DEL does not release the lock', { releaseIgnored: true }, /did not release the lock/],
      ['SET NX on a fresh key answers something other than OK', { setReply: 'QUEUED' }, /did not answer OK/],
    ])('fails the lock check when %s', async (_what, fault, detail) => {
      const { report } = await doctor({ env: redisEnv(), createRedisClient: async () => fakeRedis(fault) });

      expect(report).toMatchObject({ exitCode: 1, failed: ['redis lock'] });
      expect(report.checks.find((check) => check.name === 'redis lock')?.detail).toMatch(detail);
    });

    it('fails the ping when Redis answers something other than PONG', async () => {
      const { report } = await doctor({
        env: redisEnv(),
        createRedisClient: async () => fakeRedis({ pingReply: 'hello from a proxy' }),
      });

      expect(report).toMatchObject({ exitCode: 1, failed: ['redis ping'] });
    });

    it("warns when the breaker's keys do not keep their expiry", async () => {
      const { report } = await doctor({
        env: redisEnv(),
        createRedisClient: async () => fakeRedis({ breakerExpiryLost: true }),
      });

      expect(report.checks.find((check) => check.name === 'redis breaker')).toMatchObject({
        status: 'warn',
        detail: expect.stringMatching(/did not keep their expiry/),
      });
      expect(report.exitCode).toBe(0);
    });

    it('fails clearly when ioredis cannot be loaded', async () => {
      const missing = async (): Promise<DoctorRedisClient> => {
        throw new Error('ioredis not installed: REDIS_URL is set, so run `npm install ioredis` to check Redis');
      };

      const { report } = await doctor({ env: redisEnv(), createRedisClient: missing });

      expect(report).toMatchObject({ exitCode: 1, failed: ['redis'] });
      expect(report.checks.at(-1)?.detail).toContain('ioredis not installed');
    });

    it('fails the ping, naming host:port, and drops the connection when Redis does not answer', async () => {
      const ended: string[] = [];
      const { report } = await doctor({
        env: redisEnv(),
        createRedisClient: async () => fakeRedis({ refuse: true }, ended),
      });

      expect(report).toMatchObject({ exitCode: 1, failed: ['redis ping'] });
      expect(ended).toEqual(['disconnect']);
      expect(report.checks.find((check) => check.name === 'redis ping')?.detail).toMatch(
        /^127\.0\.0\.1:6390: connect ECONNREFUSED/,
      );
    });
  });
});

/** What a fault in {@link fakeRedis} breaks. */
interface RedisFaults {
  nxIgnored?: boolean;
  refuse?: boolean;
  /** What PING answers instead of PONG. */
  pingReply?: string;
  /** What SET answers instead of OK when it sets the key. */
  setReply?: string;
  /** The owner-checked DEL deletes nothing. */
  releaseIgnored?: boolean;
  /** The breaker's script finds its keys without their expiry (answers 0). */
  breakerExpiryLost?: boolean;
  /** What `INFO server` answers (a standalone Redis 7's without it). */
  info?: string;
  /** The user may not SPUBLISH (PUBLISH is allowed). */
  spublishRefused?: boolean;
  /** Every key is served by another node of a cluster. */
  moved?: boolean;
}

/** An in-memory Redis with just the doctor's commands, a way to break each, and the calls that end the connection. */
function fakeRedis(faults: RedisFaults = {}, ended: string[] = []): DoctorRedisClient {
  const keys = new Map<string, string>();
  const redirect = (): void => {
    if (faults.moved === true) throw new Error('MOVED 1234 127.0.0.1:7001');
  };
  return {
    connect: async () => {
      if (faults.refuse === true)
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED' });
    },
    ping: async () => faults.pingReply ?? 'PONG',
    set: async (key, value) => {
      redirect();
      if (keys.has(key) && faults.nxIgnored !== true) return null;
      keys.set(key, value);
      return faults.setReply ?? 'OK';
    },
    eval: async (script, _numKeys, key = '', owner = '') => {
      redirect();
      if (script.includes('INCR')) return faults.breakerExpiryLost === true ? 0 : 1;
      if (keys.get(key) !== owner || faults.releaseIgnored === true) return 0;
      keys.delete(key);
      return 1;
    },
    publish: async () => 0,
    spublish: async () => {
      redirect();
      if (faults.spublishRefused === true)
        throw new Error("NOPERM User has no permissions to run the 'spublish' command");
      return 0;
    },
    info: async () => faults.info ?? 'redis_version:7.2.4\r\nredis_mode:standalone\r\n',
    quit: async () => {
      ended.push('quit');
      return 'OK';
    },
    disconnect: () => {
      ended.push('disconnect');
    },
  };
}
