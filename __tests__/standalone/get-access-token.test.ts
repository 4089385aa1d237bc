import type { AlixSandbox } from '../../src/sandbox/server';
import { readAlixEnvConfig, withVariableNames } from '../../src/standalone/env-config';
import { ConfigurationError } from '../../src/errors';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import { TokenManagerPool } from '../../src/pool/pool';
import {
  closeDefaultTokenManager,
  createTokenManagerFromEnv,
  createTokenManagerPoolFromEnv,
  getAccessToken,
  getDefaultTokenManager,
} from '../../src/standalone/default-manager';
import { captureThrow } from '../helpers/alix-keys';
import { DIST_INDEX, DIST_INDEX_ESM, runNode } from '../helpers/child';
import { startSandboxWithEnv } from '../helpers/sandbox-env';

describe('getAccessToken() standalone', () => {
  let sandbox: AlixSandbox;
  let env: Record<string, string>;

  beforeAll(async () => {
    ({ sandbox, env } = await startSandboxWithEnv());
  });
  afterAll(() => sandbox.close());
  afterEach(() => closeDefaultTokenManager());

  it('prints a token from a plain require() in a child process that exits by itself', async () => {
    const result = await runNode(
      ['-e', `require(${JSON.stringify(DIST_INDEX)}).getAccessToken().then(console.log)`],
      env,
    );
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('works from an ESM import', async () => {
    const script = `import { getAccessToken } from ${JSON.stringify(DIST_INDEX_ESM)}; console.log(await getAccessToken());`;
    const result = await runNode(['--input-type=module', '-e', script], env);
    expect(result.code).toBe(0);
    expect(result.stdout.trim().length).toBeGreaterThan(20);
  });

  it('names every missing variable and no value when the environment is incomplete', async () => {
    const script = `require(${JSON.stringify(DIST_INDEX)}).getAccessToken().catch((e) => { console.error(e.code + ': ' + e.message); process.exit(3); })`;
    const result = await runNode(['-e', script], { ALIX_SECRET_KEY: 'do-not-print-me' });
    expect(result.code).toBe(3);
    expect(result.stderr.trim()).toBe(
      'ERR_ALIX_CONFIGURATION: missing environment variables: ALIX_BASE_URL, ALIX_PARTNER_CODE, ALIX_PRIVATE_KEY or ALIX_PRIVATE_KEY_FILE',
    );
  });

  it('reuses one manager per process and starts from ALIX_REFRESH_TOKEN when given', async () => {
    const before = sandbox.counters();
    const first = await getAccessTokenWithEnv(env);
    const second = await getAccessTokenWithEnv(env);
    expect(second).toBe(first);
    expect(sandbox.counters().authenticate - before.authenticate).toBe(1);
    expect(readAlixEnvConfig({ ...env, ALIX_REFRESH_TOKEN: 'rt' }).initialTokens).toEqual({ refreshToken: 'rt' });
  });

  it('builds a new default manager once the held one was closed by hand', async () => {
    await getAccessTokenWithEnv(env);
    await getDefaultTokenManager().close();

    await expect(getAccessTokenWithEnv(env)).resolves.toEqual(expect.any(String));
    expect(getDefaultTokenManager().status().state).not.toBe('closed');
  });

  it('rejects a PEM-less ALIX_PRIVATE_KEY and both key variables at once', () => {
    expect(() => readAlixEnvConfig({ ...env, ALIX_PRIVATE_KEY_FILE: '', ALIX_PRIVATE_KEY: 'not a pem' })).toThrow(
      /must hold a PEM key/,
    );
    expect(() => readAlixEnvConfig({ ...env, ALIX_PRIVATE_KEY: '-----BEGIN PRIVATE KEY-----' })).toThrow(/only one of/);
  });

  it('names every missing variable at once, in one message', () => {
    const message =
      'missing environment variables: ALIX_BASE_URL, ALIX_PARTNER_CODE, ALIX_SECRET_KEY, ' +
      'ALIX_PRIVATE_KEY or ALIX_PRIVATE_KEY_FILE';
    expect(() => readAlixEnvConfig({})).toThrow(message);
  });

  it('takes a variable set to blank as unset, as a docker --env-file line `NAME=` sets it', () => {
    const blank = { ...env, ALIX_USER_EMAIL: ' ', ALIX_REFRESH_TOKEN: '', ALIX_TOKEN_ENCRYPTION_KEYS: '' };
    expect(readAlixEnvConfig(blank)).toEqual(readAlixEnvConfig(env));
  });

  it('passes ALIX_USER_EMAIL to the provider, and no userEmail without it', () => {
    expect(readAlixEnvConfig({ ...env, ALIX_USER_EMAIL: 'jane@example.com' }).provider.userEmail).toBe(
      'jane@example.com',
    );
    expect(readAlixEnvConfig(env).provider).not.toHaveProperty('userEmail');
  });

  it('passes the caller options to the default manager: forceRefresh makes an auth call', async () => {
    const token = await getAccessTokenWithEnv(env);
    const before = sandbox.counters();
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      expect(await getAccessToken({ forceRefresh: true })).not.toBe(token);
    } finally {
      for (const name of Object.keys(env)) if (saved[name] === undefined) delete process.env[name];
    }
    const after = sandbox.counters();
    expect(after.refresh + after.authenticate).toBe(before.refresh + before.authenticate + 1);
  });

  it('builds a new pool for end users once the default one was closed', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      await getAccessToken({ userEmail: 'jane@example.com' });
      const manager = getDefaultTokenManager();
      const closedPools = jest.spyOn(TokenManagerPool.prototype, 'close');
      closeDefaultTokenManager();
      // Closed, not only forgotten: a forgotten one would go on refreshing in the background.
      expect(manager.status().state).toBe('closed');
      expect(closedPools).toHaveBeenCalledTimes(1);
      closedPools.mockRestore();
      await expect(getAccessToken({ userEmail: 'jane@example.com' })).resolves.toEqual(expect.any(String));
    } finally {
      for (const name of Object.keys(env)) if (saved[name] === undefined) delete process.env[name];
    }
  });

  it("refuses an empty userEmail rather than serve the process-wide session's token", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      await expect(getAccessToken({ userEmail: '' })).rejects.toThrow(/session key must be/);
    } finally {
      for (const name of Object.keys(env)) if (saved[name] === undefined) delete process.env[name];
    }
  });

  it('keeps what the environment configures when an option is passed as undefined', async () => {
    const { refreshToken = '' } = await new AlixAuthProvider(readAlixEnvConfig(env).provider).authenticate();
    const before = sandbox.counters();
    const manager = createTokenManagerFromEnv(
      { ...env, ALIX_REFRESH_TOKEN: refreshToken },
      { initialTokens: undefined },
    );
    await manager.getAccessToken();
    manager.close();
    expect(sandbox.counters()).toMatchObject({ refresh: before.refresh + 1, authenticate: before.authenticate });
  });

  it('takes key ids that name Object.prototype members (toString, __proto__) as ordinary ids', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const encryptionOf = (keys: string) => readAlixEnvConfig({ ...env, ALIX_TOKEN_ENCRYPTION_KEYS: keys }).encryption;
    expect(encryptionOf(`toString:${key}`)).toEqual({ keys: { toString: key }, current: 'toString' });
    expect(encryptionOf(`k1:${key},constructor:${key}`)?.current).toBe('k1');
    expect(Object.keys(encryptionOf(`__proto__:${key},k2:${key}`)?.keys ?? {})).toEqual(['__proto__', 'k2']);
  });

  it('refuses a key of the wrong length in ALIX_TOKEN_ENCRYPTION_KEYS, naming the variable and the id, never the key', () => {
    const short = Buffer.alloc(16, 7).toString('base64');
    const read = () => readAlixEnvConfig({ ...env, ALIX_TOKEN_ENCRYPTION_KEYS: `k1:${short}` });
    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(/^ALIX_TOKEN_ENCRYPTION_KEYS: encryption key "k1" must be/);
    expect(() => read()).not.toThrow(short);
  });

  it('refuses an ALIX_TOKEN_ENCRYPTION_KEYS entry without a key id, and trims each key', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    for (const keys of [key, `:${key}`]) {
      expect(() => readAlixEnvConfig({ ...env, ALIX_TOKEN_ENCRYPTION_KEYS: keys })).toThrow(
        /^ALIX_TOKEN_ENCRYPTION_KEYS entry 1 must be keyId:base64key/,
      );
    }
    const encryption = readAlixEnvConfig({ ...env, ALIX_TOKEN_ENCRYPTION_KEYS: `k1: ${key} ,k2:${key}` }).encryption;
    expect(encryption?.keys).toEqual({ k1: key, k2: key });
  });

  it('withVariableNames() renames an option error after its variable, keeping it as the cause, and rethrows others', () => {
    const optionError = new ConfigurationError('baseUrl must be an http(s) URL');
    const renamed = captureThrow(
      () =>
        withVariableNames(env, () => {
          throw optionError;
        }),
      [],
    );
    expect(renamed).toMatchObject({ message: 'ALIX_BASE_URL: baseUrl must be an http(s) URL', cause: optionError });
    for (const other of [
      new ConfigurationError('AlixAuthProvider: axios 0.27.2 is not supported'),
      new TypeError('x'),
    ]) {
      const thrown = captureThrow(
        () =>
          withVariableNames(env, () => {
            throw other;
          }),
        [],
      );
      expect(thrown).toBe(other);
    }
  });

  it('rejects an env or options that is not an object, and a variable that is not a string, with a ConfigurationError', () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => readAlixEnvConfig(null as never), /needs an object of variables/],
      [() => readAlixEnvConfig({ ...env, ALIX_SECRET_KEY: 5 } as never), /^ALIX_SECRET_KEY must be a string$/],
      [() => createTokenManagerFromEnv(env, null as never), /options must be an object/],
      // Not spread away into the defaults (a string would become { 0: … }).
      [() => createTokenManagerPoolFromEnv(env, null as never), /options must be an object/],
      [() => createTokenManagerPoolFromEnv(env, 'maxSessions=5' as never), /options must be an object/],
    ];
    for (const [create, message] of cases) {
      const error = captureThrow(create, []);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(message);
    }
  });

  const BAD_PEM = '-----BEGIN PRIVATE KEY-----\nQUJDRA==\n-----END PRIVATE KEY-----';
  it.each([
    ['ALIX_BASE_URL', { ALIX_BASE_URL: 'not a url' }, 'ALIX_BASE_URL: baseUrl is not an absolute URL'],
    ['ALIX_BASE_URL', { ALIX_BASE_URL: 'http://alix.example.com' }, /^ALIX_BASE_URL: baseUrl uses plain http:/],
    ['ALIX_PRIVATE_KEY', { ALIX_PRIVATE_KEY_FILE: '', ALIX_PRIVATE_KEY: BAD_PEM }, /^ALIX_PRIVATE_KEY: privateKey is/],
    ['ALIX_PRIVATE_KEY_FILE', { ALIX_PRIVATE_KEY_FILE: '/nonexistent/alix-key.pem' }, /^ALIX_PRIVATE_KEY_FILE: /],
    [
      'ALIX_PRIVATE_KEY_FILE',
      { ALIX_PRIVATE_KEY: '  ', ALIX_PRIVATE_KEY_FILE: '/nonexistent/alix-key.pem' },
      /^ALIX_PRIVATE_KEY_FILE: /,
    ],
  ])('names %s, and not its PEM, when its value is bad (manager and pool)', (_name, overrides, message) => {
    for (const create of [createTokenManagerFromEnv, createTokenManagerPoolFromEnv]) {
      const error = captureThrow(() => create({ ...env, ...overrides }), []);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('QUJDRA');
    }
  });
});

// docker --env-file, systemd EnvironmentFile and many CI secret stores keep quotes a shell would remove.
describe('readAlixEnvConfig: a value wrapped in quotes', () => {
  const env = { ALIX_BASE_URL: 'https://api.example.com', ALIX_PARTNER_CODE: 'P1', ALIX_SECRET_KEY: 'sk-secret' };
  const pem = '-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----';

  it.each([
    ['ALIX_PARTNER_CODE', '"P1"'],
    ['ALIX_SECRET_KEY', "'sk-secret'"],
    ['ALIX_BASE_URL', '"https://api.example.com"'],
    ['ALIX_REFRESH_TOKEN', '"rt-secret"'],
    ['ALIX_USER_EMAIL', '"user@example.com"'],
  ])('refuses %s at construction, naming it and never its value', (name, quoted) => {
    const read = () => readAlixEnvConfig({ ...env, ALIX_PRIVATE_KEY: pem, [name]: quoted });
    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(new RegExp(`^${name} is wrapped in quotes`));
    expect(() => read()).not.toThrow(quoted.slice(1, -1));
  });

  it('refuses a quoted PEM in ALIX_PRIVATE_KEY with that reason, not "not a valid PEM private key"', () => {
    expect(() => readAlixEnvConfig({ ...env, ALIX_PRIVATE_KEY: `"${pem}"` })).toThrow(
      /^ALIX_PRIVATE_KEY is wrapped in quotes/,
    );
  });

  it('keeps a value with a quote only inside it', () => {
    expect(readAlixEnvConfig({ ...env, ALIX_PRIVATE_KEY: pem, ALIX_SECRET_KEY: 'a"b' }).provider.secretKey).toBe('a"b');
  });

  it('keeps a value that only ends in a quote, starts and ends with different ones, or closes its quote early', () => {
    for (const secretKey of ['ab"c"', `"abc'`, '"ab"c']) {
      expect(readAlixEnvConfig({ ...env, ALIX_PRIVATE_KEY: pem, ALIX_SECRET_KEY: secretKey }).provider.secretKey).toBe(
        secretKey,
      );
    }
  });
});

async function getAccessTokenWithEnv(env: Record<string, string>): Promise<string> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return await getAccessToken();
  } finally {
    for (const name of Object.keys(env)) if (saved[name] === undefined) delete process.env[name];
  }
}
