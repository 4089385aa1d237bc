import { ConfigurationError } from '../errors';
import type { AlixAuthProviderOptions } from '../providers/alix/options';
import { AesGcmTokenCipher } from '../stores/encryption';
import type { AesGcmTokenCipherOptions } from '../stores/encryption';
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
  const value = (name: string): string | undefined => {
    const raw = env[name]?.trim();
    return raw === undefined || raw === '' ? undefined : raw;
  };
  const missing: string[] = [ALIX_ENV.baseUrl, ALIX_ENV.partnerCode, ALIX_ENV.secretKey].filter(
    (name) => value(name) === undefined,
  );
  const privateKey = value(ALIX_ENV.privateKey);
  const privateKeyFile = value(ALIX_ENV.privateKeyFile);
  if (privateKey === undefined && privateKeyFile === undefined)
    missing.push(`${ALIX_ENV.privateKey} or ${ALIX_ENV.privateKeyFile}`);
  if (missing.length > 0) {
    throw new ConfigurationError(`missing environment variables: ${missing.join(', ')}`);
  }
  if (privateKey !== undefined && privateKeyFile !== undefined) {
    throw new ConfigurationError(`set only one of ${ALIX_ENV.privateKey} and ${ALIX_ENV.privateKeyFile}`);
  }
  if (privateKey !== undefined && !privateKey.includes('-----BEGIN')) {
    throw new ConfigurationError(
      `${ALIX_ENV.privateKey} must hold a PEM key; use ${ALIX_ENV.privateKeyFile} for a path`,
    );
  }
  const userEmail = value(ALIX_ENV.userEmail);
  const refreshToken = value(ALIX_ENV.refreshToken);
  const encryptionKeys = value(ALIX_ENV.tokenEncryptionKeys);
  return {
    encryption: encryptionKeys === undefined ? undefined : parseEncryptionKeys(encryptionKeys),
    provider: {
      baseUrl: value(ALIX_ENV.baseUrl) as string,
      partnerCode: value(ALIX_ENV.partnerCode) as string,
      secretKey: value(ALIX_ENV.secretKey) as string,
      privateKey: (privateKey ?? privateKeyFile) as string,
      ...(userEmail === undefined ? {} : { userEmail }),
    },
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
  const keys: Record<string, string> = {};
  let current: string | undefined;
  for (const [index, entry] of text.split(',').entries()) {
    const colon = entry.indexOf(':');
    const id = entry.slice(0, colon).trim();
    if (colon === -1 || id === '') throw new ConfigurationError(`${name} entry ${index + 1} must be keyId:base64key`);
    if (id in keys) throw new ConfigurationError(`${name} entry ${index + 1} repeats an earlier key id`);
    keys[id] = entry.slice(colon + 1).trim();
    current ??= id;
  }
  const options = { keys, current: current as string };
  try {
    new AesGcmTokenCipher(options);
  } catch (error) {
    throw new ConfigurationError(`${name}: ${(error as Error).message}`);
  }
  return options;
}
