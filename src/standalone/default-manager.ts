import { definedOnly } from '../defaults';
import { assertConfig } from '../errors';
import { AlixAuthProvider } from '../providers/alix/provider';
import { TokenManager } from '../manager/token-manager';
import type { GetAccessTokenOptions } from '../manager/types';
import type { TokenManagerOptions } from '../manager/options';
import { TokenManagerPool } from '../pool/pool';
import { MemoryTokenStore } from '../stores/memory';
import type { InternalTokenManagerPoolOptions, TokenManagerPoolOptions } from '../pool/options';
import { readAlixEnvConfig, withVariableNames } from './env-config';

let defaultManager: TokenManager | undefined;
let defaultPool: TokenManagerPool | undefined;

/** Options of the standalone {@link getAccessToken}: a manager's, plus the end user. */
export interface StandaloneGetAccessTokenOptions extends GetAccessTokenOptions {
  /** The end user whose session to use (a session of the process-wide pool); without it, the one default session. */
  userEmail?: string | undefined;
}

/**
 * A `TokenManagerPool` configured from the environment (`ALIX_USER_EMAIL` and
 * `ALIX_REFRESH_TOKEN` are ignored: each session key is a user email and signs in). With
 * `ALIX_TOKEN_ENCRYPTION_KEYS` and no `store` option, the pool's own store keeps the sessions
 * encrypted; for a store you pass, give it `readAlixEnvConfig(env).encryption` yourself.
 * @throws ConfigurationError listing missing or bad variables.
 */
export function createTokenManagerPoolFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: Omit<TokenManagerPoolOptions, 'createProvider'> = {},
): TokenManagerPool {
  assertConfig(typeof options === 'object' && options, 'createTokenManagerPoolFromEnv options must be an object');
  const { provider, encryption } = readAlixEnvConfig(env);
  const { userEmail: _userEmail, ...common } = provider;
  const createProvider = withVariableNames(env, () => AlixAuthProvider.forUsers(common));
  const withEncryption: InternalTokenManagerPoolOptions = { encryption, ...definedOnly(options), createProvider };
  return new TokenManagerPool(withEncryption);
}

/**
 * A `TokenManager` configured from the environment, for when the whole process shares one
 * session. The environment is read on the first call. With `ALIX_TOKEN_ENCRYPTION_KEYS`
 * (`id:base64key,…`, the first current) and no `store` option, the session is kept
 * encrypted; for a store you pass, give it `readAlixEnvConfig(env).encryption` yourself.
 * @throws ConfigurationError listing missing or bad variables.
 */
export function createTokenManagerFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: Omit<TokenManagerOptions, 'provider'> = {},
): TokenManager {
  assertConfig(typeof options === 'object' && options !== null, 'createTokenManagerFromEnv options must be an object');
  const { encryption, initialTokens, provider } = readAlixEnvConfig(env);
  const store = encryption && !options.store ? new MemoryTokenStore({ encryption }) : undefined;
  const alixProvider = withVariableNames(env, () => new AlixAuthProvider(provider));
  // An option passed as undefined does not hide what the environment configures.
  return new TokenManager({ initialTokens, store, ...definedOnly(options), provider: alixProvider });
}

/**
 * The process-wide manager behind the standalone {@link getAccessToken}, created lazily. One
 * closed by hand is forgotten: the next call builds a new one.
 * @throws ConfigurationError when the environment is incomplete (nothing is cached then,
 *   so a fixed environment works on the next call).
 */
export function getDefaultTokenManager(): TokenManager {
  if (defaultManager !== undefined) return defaultManager;
  const manager = createTokenManagerFromEnv();
  defaultManager = manager;
  // Closed by hand (getDefaultTokenManager().close()): forget it, so the next call builds a new one, as the pool does.
  manager.on('lifecycle', (event) => {
    if (event.type === 'closed') defaultManager = undefined;
  });
  return manager;
}

/**
 * Resolves to a valid Alix access token using the process-wide manager configured from
 * `ALIX_BASE_URL`, `ALIX_PARTNER_CODE`, `ALIX_SECRET_KEY`, `ALIX_PRIVATE_KEY` or
 * `ALIX_PRIVATE_KEY_FILE`, and optionally `ALIX_REFRESH_TOKEN` and `ALIX_USER_EMAIL`. Its
 * timers are `unref()`ed, so a script that calls it exits by itself.
 * @throws ConfigurationError (as a rejection) when the environment is incomplete; the
 *   manager's errors otherwise.
 * @example
 * ```ts
 * import { getAccessToken } from 'alix-token-manager';
 *
 * const token = await getAccessToken();
 * ```
 */
export async function getAccessToken(options?: StandaloneGetAccessTokenOptions): Promise<string> {
  if (options?.userEmail === undefined) return getDefaultTokenManager().getAccessToken(options);
  const { userEmail, ...rest } = options;
  // The process-wide pool, created lazily like the manager.
  defaultPool ??= createTokenManagerPoolFromEnv();
  // No options beyond the user: the pool's hot path serves a held token only to a call without them.
  return defaultPool.getAccessToken(userEmail, Object.keys(rest).length === 0 ? undefined : rest);
}

/** Closes and forgets the process-wide manager and pool (for tests and shutdown hooks). */
export function closeDefaultTokenManager(): void {
  defaultManager?.close();
  defaultManager = undefined;
  defaultPool?.close();
  defaultPool = undefined;
}
