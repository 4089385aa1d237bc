import { ConfigurationError, assertConfig } from '../errors';
import type { AlixAuthProviderOptions } from '../providers/alix/options';
import { AesGcmTokenCipher, type AesGcmTokenCipherOptions } from '../stores/encryption';
import type { InitialTokens } from '../token-set';

/** The environment variables the standalone `getAccessToken()` and the CLI read. */
export const ALIX_ENV = Object.freeze({
  baseUrl: 'ALIX_BASE_URL',
  partnerCode: 'ALIX_PARTNER_CODE',
  secretKey: 'ALIX_SECRET_KEY',
  privateKey: 'ALIX_PRIVATE_KEY',
  privateKeyFile: 'ALIX_PRIVATE_KEY_FILE',
  refreshToken: 'ALIX_REFRESH_TOKEN',
  userEmail: 'ALIX_USER_EMAIL',
  tokenEncryptionKeys: 'ALIX_TOKEN_ENCRYPTION_KEYS',
});

/** Provider options and seed tokens read from the environment. */
export interface AlixEnvConfig {
  provider: AlixAuthProviderOptions;
  initialTokens: InitialTokens | undefined;
  /**
   * From `ALIX_TOKEN_ENCRYPTION_KEYS` (`id:base64key,id:base64key`, the first one current):
   * a store's `encryption` option, or undefined when the variable is unset.
   */
  encryption: AesGcmTokenCipherOptions | undefined;
}

/**
 * Reads the Alix configuration from environment variables (SPEC §3).
 * @throws ConfigurationError listing every missing variable by name (never a value).
 */
export function readAlixEnvConfig(env: NodeJS.ProcessEnv = process.env): AlixEnvConfig {
  assertConfig(typeof env === 'object' && env !== null, 'readAlixEnvConfig(env) needs an object of variables');
  const value = (name: string): string | undefined => {
    const raw: unknown = env[name];
    // An env object built by hand may hold a number: a typed error naming it, not a TypeError at trim().
    assertConfig(raw === undefined || typeof raw === 'string', `${name} must be a string`);
    const trimmed = raw?.trim() || undefined;
    // docker --env-file, systemd and many CI secret stores keep the quotes a shell would remove: a quoted
    // partner code or secret would only fail at the first sign-in, a quoted PEM as "not a valid PEM".
    const quoted = /^(["'])[\s\S]*\1$/.test(trimmed ?? '');
    assertConfig(!quoted, `${name} is wrapped in quotes; remove them (they are kept as part of the value)`);
    return trimmed;
  };
  const required = [ALIX_ENV.baseUrl, ALIX_ENV.partnerCode, ALIX_ENV.secretKey];
  const missing: string[] = required.filter((name) => !value(name));
  const privateKey = value(ALIX_ENV.privateKey) ?? '';
  const privateKeyFile = value(ALIX_ENV.privateKeyFile) ?? '';
  if (!privateKey && !privateKeyFile) missing.push(`${ALIX_ENV.privateKey} or ${ALIX_ENV.privateKeyFile}`);
  assertConfig(missing.length === 0, `missing environment variables: ${missing.join(', ')}`);
  assertConfig(!privateKey || !privateKeyFile, `set only one of ${ALIX_ENV.privateKey} and ${ALIX_ENV.privateKeyFile}`);
  const notPem = `${ALIX_ENV.privateKey} must hold a PEM key; use ${ALIX_ENV.privateKeyFile} for a path`;
  assertConfig(!privateKey || privateKey.includes('-----BEGIN'), notPem);
  const [baseUrl, partnerCode, secretKey] = required.map(value) as [string, string, string];
  const provider = { baseUrl, partnerCode, secretKey, privateKey: privateKey || privateKeyFile };
  const userEmail = value(ALIX_ENV.userEmail);
  const refreshToken = value(ALIX_ENV.refreshToken);
  const encryptionKeys = value(ALIX_ENV.tokenEncryptionKeys);
  return {
    encryption: encryptionKeys === undefined ? undefined : parseEncryptionKeys(encryptionKeys),
    provider: userEmail === undefined ? provider : { ...provider, userEmail },
    initialTokens: refreshToken === undefined ? undefined : { refreshToken },
  };
}

/**
 * Parses `ALIX_TOKEN_ENCRYPTION_KEYS`: comma-separated `keyId:base64key` pairs, the first
 * one current (new values are sealed with it), the others still read (rotation).
 * @throws ConfigurationError naming the variable and the key id, never a key.
 */
export function parseEncryptionKeys(text: string): AesGcmTokenCipherOptions {
  const name = ALIX_ENV.tokenEncryptionKeys;
  // A Map, not an object: an id such as `toString` or `__proto__` is a key id like any other.
  const keys = new Map<string, string>();
  for (const [index, entry] of text.split(',').entries()) {
    const colon = entry.indexOf(':');
    const id = entry.slice(0, colon).trim();
    assertConfig(colon !== -1 && id !== '', `${name} entry ${index + 1} must be keyId:base64key`);
    assertConfig(!keys.has(id), `${name} entry ${index + 1} repeats an earlier key id`);
    keys.set(id, entry.slice(colon + 1).trim());
  }
  // The first entry's id: a Map keeps insertion order, and the loop above let at least one in.
  const options = { keys: Object.fromEntries(keys), current: [...keys.keys()][0] as string };
  try {
    new AesGcmTokenCipher(options);
  } catch (error) {
    throw new ConfigurationError(`${name}: ${(error as Error).message}`);
  }
  return options;
}

/**
 * Builds the provider from the environment's options and, when it rejects one, names the variable
 * it came from (`baseUrl` → `ALIX_BASE_URL`): its messages start with the option's name and hold
 * no secret.
 */
export function withVariableNames<T>(env: NodeJS.ProcessEnv, build: () => T): T {
  try {
    return build();
  } catch (error) {
    const option = error instanceof ConfigurationError ? (/^\w+/.exec(error.message)?.[0] ?? '') : '';
    if (!Object.hasOwn(ALIX_ENV, option)) throw error;
    const fromFile = option === 'privateKey' && !env[ALIX_ENV.privateKey]?.trim();
    const variable = fromFile ? ALIX_ENV.privateKeyFile : ALIX_ENV[option as keyof typeof ALIX_ENV];
    throw new ConfigurationError(`${variable}: ${(error as ConfigurationError).message}`, { cause: error });
  }
}
