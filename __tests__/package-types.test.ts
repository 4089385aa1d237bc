/**
 * A TypeScript consumer finds the types of every subpath the package exports, including under
 * `moduleResolution` node10 (what `"module": "commonjs"` implies, as in many NestJS services), which
 * ignores `exports`. Resolved from a virtual consumer whose node_modules/alix-token-manager is this checkout.
 */
import path from 'node:path';
import ts from 'typescript';
import pkg from '../package.json';

const root = path.resolve(__dirname, '..');
const installed = '/consumer/node_modules/alix-token-manager';
const onDisk = (file: string): string =>
  file === installed || file.startsWith(`${installed}/`) ? path.join(root, file.slice(installed.length)) : file;
const host: ts.ModuleResolutionHost = {
  fileExists: (file) => ts.sys.fileExists(onDisk(file)),
  readFile: (file) => ts.sys.readFile(onDisk(file)),
  directoryExists: (dir) =>
    ['/consumer', '/consumer/node_modules'].includes(dir) || ts.sys.directoryExists(onDisk(dir)),
};

// The root ('' here) resolves through `types`: it shows the virtual install resolves at all.
const subpaths = Object.entries(pkg.exports).flatMap(([subpath, target]) =>
  typeof target === 'string' ? [] : [[subpath.slice(1), target.require.types] as const],
);

describe('the types of each subpath export', () => {
  it.each(subpaths)('alix-token-manager%s resolves to %s under moduleResolution node10', (subpath, types) => {
    const options = { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 };
    const { resolvedModule } = ts.resolveModuleName(`alix-token-manager${subpath}`, '/consumer/a.ts', options, host);

    expect(resolvedModule?.resolvedFileName).toBe(path.posix.join(installed, types));
  });
});

// `tsc --init` (TypeScript 5.9 and later) turns exactOptionalPropertyTypes on.
function problemsUnderExactOptional(source: string): string[] {
  const consumer = path.join(root, '__consumer-exact-optional.ts');
  const options: ts.CompilerOptions = {
    strict: true,
    exactOptionalPropertyTypes: true,
    skipLibCheck: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    target: ts.ScriptTarget.ESNext,
    types: ['node'],
  };
  const compilerHost = ts.createCompilerHost(options);
  const readFile = compilerHost.readFile.bind(compilerHost);
  compilerHost.readFile = (file) => (file === consumer ? source : readFile(file));
  compilerHost.fileExists = (file) => file === consumer || ts.sys.fileExists(file);
  const program = ts.createProgram([consumer], options, compilerHost);
  return ts
    .getPreEmitDiagnostics(program)
    .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
}

const dist = (entry: string): string => JSON.stringify(path.join(root, 'dist', entry));

// An optional member that the library's own stores, or a wrapper forwarding it, set to undefined must admit undefined.
it('a consumer under exactOptionalPropertyTypes passes the shipped stores and forwards a provider', () => {
  const source = `
    import { MemoryTokenStore, type TokenProvider, type TokenStore } from ${dist('index.js')};
    import type { RedisTokenStore } from ${dist('redis.js')};
    declare const redisStore: RedisTokenStore;
    declare const inner: TokenProvider;
    export const stores: TokenStore[] = [redisStore, new MemoryTokenStore()];
    export const forwarding: TokenProvider = { ...inner, identity: inner.identity };
  `;

  expect(problemsUnderExactOptional(source)).toEqual([]);
});

// Options are read from process.env (string | undefined), and undefined already means "absent" at run time.
it('a consumer under exactOptionalPropertyTypes may set every optional option to undefined', () => {
  const source = `
    import type { AxiosRequestConfig } from 'axios';
    import * as alix from ${dist('index.js')};
    import type * as redis from ${dist('redis.js')};
    import type * as otel from ${dist('otel.js')};
    import type * as testing from ${dist('testing.js')};
    import type * as msw from ${dist('testing/msw.js')};

    type OptionalKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? K : never }[keyof T];
    declare function unset<T>(): { [K in OptionalKeys<T>]: undefined };
    type Unset<T> = Pick<T, OptionalKeys<T>>;
    export const provider: Unset<alix.AlixAuthProviderOptions> = unset<alix.AlixAuthProviderOptions>();
    export const manager: Unset<alix.TokenManagerOptions> = unset<alix.TokenManagerOptions>();
    export const retry: Unset<alix.RetryOptions> = unset<alix.RetryOptions>();
    export const pool: Unset<alix.TokenManagerPoolOptions> = unset<alix.TokenManagerPoolOptions>();
    export const memory: Unset<alix.MemoryTokenStoreOptions> = unset<alix.MemoryTokenStoreOptions>();
    export const breaker: Unset<alix.AuthBreakerOptions> = unset<alix.AuthBreakerOptions>();
    export const store: Unset<redis.RedisTokenStoreOptions> = unset<redis.RedisTokenStoreOptions>();
    export const shared: Unset<redis.RedisAuthBreakerOptions> = unset<redis.RedisAuthBreakerOptions>();
    export const attach: Unset<alix.AttachTokenManagerOptions> = unset<alix.AttachTokenManagerOptions>();
    export const wrap: Unset<alix.CreateAuthorizedFetchOptions> = unset<alix.CreateAuthorizedFetchOptions>();
    export const get: Unset<alix.StandaloneGetAccessTokenOptions> = unset<alix.StandaloneGetAccessTokenOptions>();
    export const invalidate: Unset<alix.InvalidateOptions> = unset<alix.InvalidateOptions>();
    export const health: Unset<alix.HealthOptions> = unset<alix.HealthOptions>();
    export const close: Unset<alix.CloseOptions> = unset<alix.CloseOptions>();
    export const instrument: Unset<otel.InstrumentTokenManagerOptions> = unset<otel.InstrumentTokenManagerOptions>();
    export const sandbox: Unset<testing.AlixSandboxServerOptions> = unset<testing.AlixSandboxServerOptions>();
    export const strict: Unset<testing.SandboxStrictOptions> = unset<testing.SandboxStrictOptions>();
    export const handlers: Unset<msw.AlixHandlersOptions> = unset<msw.AlixHandlersOptions>();

    const env = process.env;
    const ms = env.ALIX_TIMEOUT_MS === undefined ? undefined : Number(env.ALIX_TIMEOUT_MS);
    const flag = env.ALIX_FLAG === undefined ? undefined : env.ALIX_FLAG === 'true';
    const user = env.ALIX_USER_EMAIL;
    new alix.AlixAuthProvider({
      baseUrl: 'https://api.alix.example',
      partnerCode: 'partner',
      secretKey: env.ALIX_SECRET_KEY,
      privateKey: env.ALIX_PRIVATE_KEY,
      userEmail: user,
      paths: { refresh: env.ALIX_REFRESH_PATH },
      timeoutMs: ms,
    });
    const encryption = { keys: { k1: env.ALIX_KEY ?? '' }, current: 'k1', readPlaintext: flag };
    new alix.MemoryTokenStore({ maxSessions: ms, breaker: { openMs: ms }, encryption });
    declare const manager2: alix.TokenManager;
    alix.createTokenManagerFromEnv(env, { storeKey: env.ALIX_STORE_KEY, retry: { retries: ms, randomize: flag } });
    export const request: AxiosRequestConfig = { alixSession: user, skipAuth: flag };
    export const call = alix.createAuthorizedFetch(manager2, { origins: [] })('https://a.example', { alixSession: user });
    manager2.invalidate(undefined, { target: env.ALIX_TARGET, replay: flag });
    alix.getAccessToken({ userEmail: user, forceRefresh: flag });
  `;

  expect(problemsUnderExactOptional(source)).toEqual([]);
});
