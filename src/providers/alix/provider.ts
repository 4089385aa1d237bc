/**
 * AlixAuthProvider: the two Alix auth calls (sign-in and refresh) over a private axios
 * instance, signed with the partner's RSA key (RSA-SHA256, PKCS#1 v1.5, base64 with padding)
 * or by a user-supplied signer.
 */
import { constants, createHash, sign } from 'node:crypto';
import axios, { type AxiosResponse } from 'axios';
import { assertNoCleartextProxy, assertSupportedPeer } from '../../axios-peer-version';
import { setUnrefTimeout, systemClock, withTimeout } from '../../clock';
import { assertPositiveMs, definedOnly } from '../../defaults';
import { AbortedError, ConfigurationError, TimeoutError, assertConfig, isTokenManagerError } from '../../errors';
import type { AuthOperation } from '../../errors';
import { createLogger } from '../../logger';
import { isLoopbackHost } from '../../loopback';
import { sanitizeCause } from '../../redaction';
import { isToken, type TokenSet } from '../../token-set';
import { onAbort, waitWithSignal } from '../../wait-with-signal';
import type { ProviderIdentity, TokenProvider } from '../types';
import { classifyTransportError, interpretResponse } from './classify';
import { DEFAULT_ALIX_AUTH_PROVIDER_OPTIONS as DEFAULTS } from './options';
import type { AlixAuthProviderOptions, AlixRefreshBodyContext, AlixSigner } from './options';
import { loadPrivateKey } from './private-key';

/** Responses larger than this are refused as malformed, in bytes (1 MiB). */
const MAX_AUTH_RESPONSE_BYTES = 1024 * 1024;

/** The abort reason of an auth request stopped by the provider's own time limit (`timeoutMs`). */
const TIMED_OUT = Symbol('timed out');

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function isNonEmpty(value: unknown): boolean {
  return typeof value === 'string' && value.trim() !== '';
}

/**
 * The options the calls use, defaults merged and checked, with the parsed `url`, `baseUrl` (without a
 * trailing slash, query or fragment), the signer and the logger; the private key is held by the signer
 * alone. `secretKey` and `userEmail` have no default and stay `undefined` unless given.
 */
function resolveOptions(options: AlixAuthProviderOptions) {
  assertConfig(typeof options === 'object' && options !== null, 'AlixAuthProvider options are required');
  const { privateKey: _key, signer: _signer, baseUrl: _url, logger: _logger, ...given } = definedOnly(options);
  const paths = { ...DEFAULTS.paths, ...definedOnly(options.paths ?? {}) };
  const settings = { ...DEFAULTS, ...given, partnerCode: given.partnerCode as string, paths };
  // Which of the three strings must be given: the secret key unless a custom signed string leaves it out.
  const needsSecret = settings.signedString === DEFAULTS.signedString || settings.secretKey !== undefined;
  const required = { partnerCode: true, secretKey: needsSecret, userEmail: settings.userEmail !== undefined };
  // A secret read from a file keeps its trailing newline and signs a string Alix never verifies (the env
  // config trims), and a newline inside the partner code or email would move the border between the two
  // in the identity hash (parts joined by newlines): refused by name, never echoed. So is an invisible
  // format character pasted along (U+200B, U+FEFF, U+200E): signed and sent, it fails as a bad signature.
  for (const name of ['partnerCode', 'secretKey', 'userEmail'] as const) {
    const value = settings[name];
    if (required[name]) assertConfig(isNonEmpty(value), `${name} is required and must be a non-empty string`);
    // But ZWNJ and ZWJ (U+200C, U+200D): Persian and Indic words hold them, and so an IDN email domain may (IDNA2008).
    const untidy =
      typeof value === 'string' && (value !== value.trim() || /(?![\u200c\u200d])[\p{Cc}\p{Cf}]/u.test(value));
    const invisible = 'or invisible format characters (U+200B, U+FEFF…)';
    assertConfig(!untidy, `${name} must not have leading or trailing whitespace or control characters, ${invisible}`);
  }
  for (const [name, path] of Object.entries(paths)) {
    assertConfig(typeof path === 'string' && path.startsWith('/'), `paths.${name} must be a string starting with '/'`);
    // Every error message shows the called URL: a query (a gateway key, say) would be in each one.
    assertConfig(!/[?#]/.test(path), `paths.${name} must not contain a query or fragment`);
  }
  for (const name of ['timeoutMs', 'signerTimeoutMs'] as const) assertPositiveMs(name, settings[name]);
  for (const name of ['signedString', 'buildAuthenticateBody', 'buildRefreshBody', 'now'] as const)
    assertConfig(typeof settings[name] === 'function', `${name} must be a function`);
  // A clock answering NaN or a Date would fail each answer without a `Date` header as "more than 10 years ahead".
  assertConfig(Number.isFinite(settings.now()), 'now must return a finite number of epoch ms');
  const url = parseBaseUrl(options.baseUrl);
  const baseUrl = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  return { ...settings, url, baseUrl, signer: createSigner(options), logger: createLogger(options.logger) };
}

/** Parses and checks `baseUrl`: https, or http on a loopback host only, and no credentials, query or fragment. */
function parseBaseUrl(baseUrl: unknown): URL {
  assertConfig(isNonEmpty(baseUrl), 'baseUrl is required (e.g. https://api.alix.example)');
  assertConfig(URL.canParse(baseUrl as string), 'baseUrl is not an absolute URL');
  const url = new URL(baseUrl as string);
  assertConfig(url.protocol === 'https:' || url.protocol === 'http:', `baseUrl must use https: (got ${url.protocol})`);
  assertConfig(url.username === '' && url.password === '', 'baseUrl must not contain a user name or password');
  const plainHttp = url.protocol === 'http:' && !isLoopbackHost(url.hostname);
  const loopback = 'loopback hosts (127.0.0.0/8, ::1, localhost)';
  assertConfig(!plainHttp, `baseUrl uses plain http: for ${url.hostname}, which only ${loopback} may. Use https:.`);
  assertConfig(url.search === '' && url.hash === '', 'baseUrl must not contain a query or fragment');
  return url;
}

/**
 * Who the sessions belong to: the auth origin, the partner code and the user email hashed into a
 * stable id (the email is personal data, never stored in the clear), the origin and the partner
 * code alone into the breaker's scope, and the auth server's `host:port` for messages.
 */
function alixIdentity(url: URL, partnerCode: string, userEmail: string | undefined): ProviderIdentity {
  const digest = (...parts: string[]): string => {
    const hash = createHash('sha256').update(['alix', url.origin, ...parts].join('\n'));
    return hash.digest('hex').slice(0, 32);
  };
  const endpoint = `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
  const identity = { id: digest(partnerCode, userEmail ?? ''), scope: digest(partnerCode), endpoint };
  return Object.freeze(userEmail === undefined ? identity : { ...identity, user: userEmail });
}

function createSigner({ privateKey, signer }: AlixAuthProviderOptions): AlixSigner {
  const hasKey = privateKey !== undefined;
  assertConfig(hasKey !== (signer !== undefined), 'exactly one of privateKey and signer is required');
  if (!hasKey) {
    assertConfig(typeof signer === 'function', 'signer must be a function');
    return signer;
  }
  const key = loadPrivateKey(privateKey);
  return async (data) =>
    sign('sha256', Buffer.from(data, 'utf8'), { key, padding: constants.RSA_PKCS1_PADDING }).toString('base64');
}

/**
 * Runs user code (signedString, the signer, a body builder). A library error it throws passes (so a
 * signer can throw `AuthUnavailableError` to ask for a retry); any other becomes a
 * {@link ConfigurationError} naming its class, whose cause has `secrets` taken out (it may echo them).
 */
async function runUserCode<T>(what: string, secrets: readonly string[], run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isTokenManagerError(error)) throw error;
    const name = error instanceof Error ? error.name : typeof error;
    throw new ConfigurationError(`${what} threw (${name})`, { cause: sanitizeCause(error, secrets) });
  }
}

/**
 * The Alix Card API auth provider: signs `partnerCode|secretKey` with the partner's RSA
 * key and calls the sign-in and refresh endpoints, returning token sets in epoch ms.
 * Everything is validated at construction; failures are typed (see docs/alix-auth.md).
 *
 * @example
 * ```ts
 * import { AlixAuthProvider } from 'alix-token-manager';
 *
 * const provider = new AlixAuthProvider({
 *   baseUrl: 'https://api.alix.example',
 *   partnerCode: 'acme',
 *   secretKey: process.env.ALIX_SECRET_KEY ?? '',
 *   privateKey: '/etc/alix/private.pem',
 * });
 * const session = await provider.authenticate();
 * const next = await provider.refresh(session.refreshToken ?? '');
 * const nextExpiry = new Date(next.accessTokenExpiresAt);
 * ```
 */
export class AlixAuthProvider implements TokenProvider {
  readonly #settings: ReturnType<typeof resolveOptions>;
  /**
   * The provider's own HTTP client. `axios.create()` would merge in the application's global
   * `axios.defaults` (an `Authorization` or `X-Api-Key` header, a `baseURL` with
   * `allowAbsoluteUrls: false` that sends the signed body to another host, `params`, `auth`,
   * agents, a replaced `adapter`…), so the client is a bare `Axios` built from this explicit
   * config alone: no global default and no interceptor of the default instance reaches it. Being
   * bare, it has no request or response transforms either: the body goes as the string given and
   * comes back as text, whatever its status.
   * Proxies from the standard environment variables (`HTTPS_PROXY`, `NO_PROXY`) still apply to
   * https:, as axios's http adapter reads them when `proxy` is unset (see docs/alix-auth.md).
   */
  readonly #http = new axios.Axios({
    adapter: 'http',
    maxRedirects: 0,
    responseType: 'text',
    validateStatus: () => true,
    maxContentLength: MAX_AUTH_RESPONSE_BYTES,
  });
  /** Who the sessions of this provider belong to: auth origin, partner code and user email, hashed. */
  readonly identity: ProviderIdentity;

  /**
   * @throws {ConfigurationError} when the installed axios is outside the supported range (see
   *   `SUPPORTED_AXIOS_RANGE`), on a missing or empty partnerCode, a missing secretKey (with
   *   the default signed string), a bad or non-loopback `http:` baseUrl, both or neither of
   *   privateKey/signer, or a key that is not a readable RSA private key of 2048+ bits.
   */
  constructor(options: AlixAuthProviderOptions) {
    // The auth calls go through the application's (peer) axios: refuse 0.x and 1.x before 1.6 here,
    // not at the first call.
    assertSupportedPeer('AlixAuthProvider');
    this.#settings = resolveOptions(options);
    this.identity = alixIdentity(this.#settings.url, this.#settings.partnerCode, this.#settings.userEmail);
  }

  /**
   * The `createProvider` of a `TokenManagerPool` with one session per end user: returns
   * `(userEmail) => new AlixAuthProvider({ ...common, userEmail })`. `common` is validated
   * once, here (a bad key or URL throws at once, not at the first user), and a private key
   * given as a path or PEM is loaded once and shared by every user's provider.
   * @throws {ConfigurationError} as the constructor does, or when `common` has a `userEmail`.
   * @example
   * ```ts
   * import { AlixAuthProvider, TokenManagerPool } from 'alix-token-manager';
   *
   * const pool = new TokenManagerPool({
   *   createProvider: AlixAuthProvider.forUsers({
   *     baseUrl: 'https://api.alix.example',
   *     partnerCode: 'acme',
   *     secretKey: process.env.ALIX_SECRET_KEY ?? '',
   *     privateKey: '/etc/alix/private.pem',
   *   }),
   * });
   * ```
   */
  static forUsers(common: Omit<AlixAuthProviderOptions, 'userEmail'>): (userEmail: string) => AlixAuthProvider {
    assertConfig(typeof common === 'object' && common !== null, 'AlixAuthProvider options are required');
    const shared: AlixAuthProviderOptions = { ...common };
    assertConfig(shared.userEmail === undefined, 'forUsers(): leave out userEmail; each session key is one');
    if (shared.privateKey !== undefined) shared.privateKey = loadPrivateKey(shared.privateKey);
    // The probe validates everything else once.
    new AlixAuthProvider(shared);
    return (userEmail) => new AlixAuthProvider({ ...shared, userEmail });
  }

  /**
   * Full sign-in: POSTs `{ partnerCode, signature }` (plus `userEmail` when configured) to
   * `paths.authenticate`.
   * @throws {AuthRejectedError} on `success: false` or a 4xx (not 408, 425 or 429).
   * @throws {AuthUnavailableError} on network errors, timeouts, 5xx, 408, 425 and 429.
   * @throws {MalformedResponseError} on a 2xx that is not a valid token envelope.
   * @throws {AbortedError} when `signal` fires.
   * @throws {ConfigurationError} when the signer or a body/signed-string override fails.
   */
  authenticate(signal?: AbortSignal): Promise<TokenSet> {
    return this.#call('authenticate', undefined, signal);
  }

  /**
   * Exchanges a refresh token: POSTs `{ partnerCode, refreshToken, signature }` (plus
   * `userEmail` when configured) to `paths.refresh`. The result carries the new (rotated)
   * refresh token.
   * @throws the same errors as {@link AlixAuthProvider.authenticate}; a
   *   {@link ConfigurationError} when `refreshToken` is empty.
   */
  async refresh(refreshToken: string, signal?: AbortSignal): Promise<TokenSet> {
    assertConfig(isToken(refreshToken), 'refresh() needs a non-empty refresh token');
    return this.#call('refresh', refreshToken, signal);
  }

  /** One auth call: sign, build the body (the sign-in's has no `refreshToken`), POST it, read the answer. */
  async #call(operation: AuthOperation, refreshToken: string | undefined, signal?: AbortSignal): Promise<TokenSet> {
    const { timeoutMs, partnerCode, secretKey, userEmail, now, logger } = this.#settings;
    // The full URL (origin + path, never a query) goes into every message: a baseUrl whose
    // path prefix doubles the API's own (`/api/api/v2/…`) is then plain to see.
    const url = `${this.#settings.baseUrl}${this.#settings.paths[operation]}`;
    const aborted = (): AbortedError => new AbortedError(`${operation} aborted by the caller: POST ${url}`);
    if (signal?.aborted) throw aborted();
    // Such a proxy would read the signature, the refresh token and the new tokens: refused, not signed.
    assertNoCleartextProxy(url, operation);
    const signature = await waitWithSignal(this.#sign(operation), signal, aborted);
    const secrets = [signature, refreshToken ?? '', secretKey ?? ''];
    // The default builders send this context as it is: `refreshToken` and `userEmail` only when set.
    const context = definedOnly({ partnerCode, refreshToken, signature, userEmail }) as AlixRefreshBodyContext;
    const build = refreshToken === undefined ? this.#settings.buildAuthenticateBody : this.#settings.buildRefreshBody;
    const builder = `${operation} failed: the request body builder`;
    // Serialized within the guard: a circular object or a BigInt fails as a ConfigurationError too.
    // A builder may return a promise (JavaScript callers): one that never settles must not outlive the signal.
    const building = runUserCode(builder, secrets, async () => {
      const body = await build(context);
      assertConfig(typeof body === 'object' && body !== null, `${builder} did not return an object`);
      return JSON.stringify(body);
    });
    const data = await waitWithSignal(building, signal, aborted);
    if (signal?.aborted) throw aborted();

    const controller = new AbortController();
    const timer = setUnrefTimeout(systemClock, () => controller.abort(TIMED_OUT), timeoutMs);
    const stopForwarding = signal && onAbort(signal, () => controller.abort());
    let response: AxiosResponse<unknown>;
    try {
      const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
      // Plain http: is allowed for loopback hosts only because it never leaves this host; an
      // HTTP_PROXY from the environment would carry the signature and tokens elsewhere in clear text.
      const proxy = this.#settings.url.protocol === 'http:' ? false : undefined;
      response = await this.#http.request({ method: 'POST', url, data, headers, proxy, signal: controller.signal });
    } catch (error) {
      const timedOut = controller.signal.reason === TIMED_OUT;
      const context = { operation, url, aborted: signal?.aborted === true && !timedOut, timedOut, timeoutMs };
      throw classifyTransportError(error, context);
    } finally {
      systemClock.clearTimeout(timer);
      stopForwarding?.();
    }
    return interpretResponse(response, { operation, url, secrets, now: now(), logger });
  }

  /** Signs this call's string, `signedString()`'s result, with the signer within `signerTimeoutMs`. */
  async #sign(operation: AuthOperation): Promise<string> {
    const { partnerCode, secretKey, userEmail, signedString, signer, signerTimeoutMs: timeoutMs } = this.#settings;
    const failed = `${operation} failed:`;
    const secrets = [secretKey ?? ''];
    const context = { partnerCode, secretKey, userEmail, operation };
    const data = await runUserCode(`${failed} signedString()`, secrets, () => signedString(context));
    assertConfig(typeof data === 'string' && data !== '', `${failed} signedString() did not return a non-empty string`);
    const signing = runUserCode(`${failed} the signer`, [data, ...secrets], () => signer(data));
    const timedOut = (): TimeoutError => new TimeoutError({ stage: 'signer', timeoutMs });
    const signature: unknown = await withTimeout(signing, systemClock, timeoutMs, timedOut);
    const base64 = typeof signature === 'string' && signature !== '' && BASE64.test(signature);
    assertConfig(base64, `${failed} the signer did not return a base64 string`);
    return signature as string;
  }
}
