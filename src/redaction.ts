/**
 * Every redaction rule of the library in one place: what a secret looks like to the logger
 * (pino paths), in a header (`Authorization: Bearer …`), in an echoed API message, and in a
 * foreign error kept as a `cause`. The adapters' error scrubber (`adapters/redact.ts`) and
 * the logger apply these rules; they define none of their own.
 */

/** The placeholder redacted values are replaced with. */
export const REDACTED = '[REDACTED]';

/** What a redacted `Authorization` header reads. */
export const REDACTED_BEARER = `Bearer ${REDACTED}`;

/** Field names whose values are secrets wherever they appear in a logged object. */
const SECRET_KEYS = ['accessToken', 'refreshToken', 'signature', 'secretKey', 'privateKey', 'token', 'bearer'];

/**
 * pino's redact paths match only the depth they name, so each secret key, and the `Authorization`
 * header in both spellings (paths are case-sensitive), is listed at the top level and under up to
 * three levels of wildcards (e.g. `err.config.headers.authorization`).
 */
export const REDACT_PATHS: readonly string[] = Object.freeze(
  [...SECRET_KEYS, 'authorization', 'Authorization'].flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`]),
);

/** Whether a header value carries a bearer token. */
export function isBearerValue(value: string): boolean {
  return /^\s*bearer\s+\S/i.test(value);
}

/** Replaces the token of every `Authorization: Bearer …` line in a raw HTTP header block. */
export function redactBearerLines(text: string): string {
  return text.replace(/^(authorization:[ \t]*bearer[ \t]+)[^\r\n]*/gim, `$1${REDACTED}`);
}

/** Replaces every occurrence of the given secrets (4 characters or more) with `[REDACTED]`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  return secrets
    .filter((secret) => secret.length >= 4)
    .reduce((result, secret) => result.replaceAll(secret, REDACTED), text);
}

/**
 * A run of base64 / base64url / hex characters (hex is a subset of both): stretches of 16 or
 * more, joined by one separator (space, `.`, `:`, or `-`, which base64url also uses), as a
 * signature or token is when it is echoed split in chunks, or as the parts of a JWT are.
 */
const OPAQUE_RUN = /[A-Za-z0-9+/_-]{16,}={0,2}(?:[ .:][A-Za-z0-9+/_-]{16,}={0,2})*/g;

/** The shortest run {@link redactOpaqueRuns} replaces (one with a separator has 16 or more on either side of it). */
const MIN_OPAQUE_RUN_LENGTH = 32;

/** Letters and digits that make a run data however often it breaks (a UUID has 32). */
const MIN_OPAQUE_ALPHANUMERICS = 48;

/**
 * Whether a run reads as data rather than words: it holds a digit and 16 alphanumerics in a row,
 * or 48 in all (hex echoed in dash-separated groups). Paths (`/api/v2/cards/12345/transactions`),
 * kebab/snake-case codes and UUIDs break every 4–12 characters and are short enough to stay;
 * encoded binary almost never breaks.
 */
function isOpaque(run: string): boolean {
  if (run.length < MIN_OPAQUE_RUN_LENGTH || !/[0-9]/.test(run)) return false;
  return /[A-Za-z0-9]{16}/.test(run) || run.replace(/[^A-Za-z0-9]/g, '').length >= MIN_OPAQUE_ALPHANUMERICS;
}

/**
 * Replaces every opaque run in text that came from a server (an API `message`, a body quoted
 * in an error) with `[REDACTED]`: 32 or more base64, base64url or hex characters, one separator
 * allowed after every 16 or more. The Alix signature is deterministic, so an echo of it
 * re-encoded (base64url, hex), split by a space or cut short is as much a credential as the
 * exact value that {@link redactSecrets} removes; so is a JWT. Words, hosts, paths, error codes
 * and short ids (UUIDs) are kept.
 * @example
 * redactOpaqueRuns('bad signature NvbOckSnBVXJiOqhY+9UIbDBGHCMuEOHsz9hR3M+3L/GU13n…') // 'bad signature [REDACTED]'
 */
export function redactOpaqueRuns(text: string): string {
  return text.replace(OPAQUE_RUN, (run) => (isOpaque(run) ? REDACTED : run));
}

/**
 * Text the library reports but did not write (the auth server's answer, a custom provider's or store's error message):
 * it may quote a token it was given, so the known secrets and any opaque run are taken out.
 */
export function redactReport(text: string, secrets: readonly string[]): string {
  return redactOpaqueRuns(redactSecrets(text, secrets));
}

/**
 * Reduces a thrown value to an Error with its class name, message, code and stack, and
 * nothing else: an AxiosError, for one, holds the request body (refresh token, signature)
 * in `config` and the bearer in `request`. This library's own errors (codes `ERR_ALIX_*`)
 * hold no secret and are kept as they are.
 * @param secrets - also taken out of the message and stack: for errors of user code (a signer,
 *   `signedString()`) that saw a secret and may echo it.
 */
export function sanitizeCause(cause: unknown, secrets: readonly string[] = []): Error {
  try {
    if (!(cause instanceof Error))
      return new Error(typeof cause === 'string' ? redactSecrets(cause, secrets) : 'non-error thrown');
    const { code } = cause as { code?: unknown };
    if (typeof code === 'string' && code.startsWith('ERR_ALIX_')) return cause;
    const summary = new Error(redactSecrets(cause.message, secrets));
    summary.name = cause.name;
    if (typeof cause.stack === 'string') summary.stack = redactSecrets(redactBearerLines(cause.stack), secrets);
    if (typeof code === 'string') Object.defineProperty(summary, 'code', { value: code, enumerable: true });
    return summary;
  } catch {
    // A getter that throws, a revoked Proxy: the typed error that summarises such a cause must still be built.
    return new Error('unreadable error thrown');
  }
}
