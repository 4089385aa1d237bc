/**
 * AlixAuthProvider: the two Alix auth calls (sign-in and refresh) over a private axios
 * instance, signed with the partner's RSA key (RSA-SHA256, PKCS#1 v1.5, base64 with padding)
 * or by a user-supplied signer.
 */
import { constants, createHash, sign } from 'node:crypto';
import axios, { type AxiosResponse } from 'axios';
import { setUnrefTimeout, systemClock, withTimeout } from '../../clock';
import {
  AbortedError,
  ConfigurationError,
  TimeoutError,
  assertConfig,
  isTokenManagerError,
  type AuthOperation,
} from '../../errors';
import type { TokenSet } from '../../token-set';
import type { ProviderIdentity, TokenProvider } from '../types';
import { classifyTransportError, interpretResponse } from './classify';
import {
  DEFAULT_ALIX_AUTH_PROVIDER_OPTIONS,
  defaultSignedString,
  type AlixAuthPaths,
  type AlixAuthProviderOptions,
  type AlixSigner,
} from './options';
import { loadPrivateKey } from './private-key';
import { waitWithSignal } from '../../wait-with-signal';
import { sanitizeCauseOf } from '../../redaction';
import { assertPositiveMs, definedOnly } from '../../defaults';
import { assertSupportedPeer } from '../../axios-peer-version';
import { isLoopbackHost } from '../../loopback';
import { createLogger, type Logger } from '../../logger';

/** Responses larger than this are refused as malformed, in bytes (1 MiB). */
const MAX_AUTH_RESPONSE_BYTES = 1024 * 1024;

/** The abort reason of an auth request stopped by the provider's own time limit (`timeoutMs`). */
const TIMED_OUT = Symbol('timed out');

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

type Held = 'baseUrl' | 'privateKey' | 'signer' | 'secretKey' | 'userEmail' | 'paths' | 'logger';
type Settings = Required<Omit<AlixAuthProviderOptions, Held>> & {
  secretKey: string | undefined;
  userEmail: string | undefined;
  paths: AlixAuthPaths;
};

function isNonEmpty(value: unknown): boolean {
  return typeof value === 'string' && value.trim() !== '';
}

function mergeOptions(options: AlixAuthProviderOptions): Settings {
  assertConfig(typeof options === 'object' && options !== null, 'AlixAuthProvider options are required');
  // The key, signer and URL are held apart; keep them out of the settings object.
  const { privateKey: _privateKey, signer: _signer, baseUrl: _baseUrl, logger: _logger, ...rest } = options;
  const given = definedOnly(rest);
  const settings: Settings = {
    ...DEFAULT_ALIX_AUTH_PROVIDER_OPTIONS,
    ...given,
    partnerCode: options.partnerCode,
    secretKey: given.secretKey,
    userEmail: given.userEmail,
    paths: { ...DEFAULT_ALIX_AUTH_PROVIDER_OPTIONS.paths, ...definedOnly(options.paths ?? {}) },
  };
  const required = (name: string): string => `${name} is required and must be a non-empty string`;
  assertConfig(isNonEmpty(settings.partnerCode), required('partnerCode'));
  if (settings.signedString === defaultSignedString || settings.secretKey !== undefined) {
    assertConfig(isNonEmpty(settings.secretKey), required('secretKey'));
  }
  if (settings.userEmail !== undefined) assertConfig(isNonEmpty(settings.userEmail), required('userEmail'));
  for (const [name, path] of Object.entries(settings.paths)) {
    assertConfig(typeof path === 'string' && path.startsWith('/'), `paths.${name} must be a string starting with '/'`);
  }
  assertPositiveMs('timeoutMs', settings.timeoutMs);
  assertPositiveMs('signerTimeoutMs', settings.signerTimeoutMs);
  for (const name of ['signedString', 'buildAuthenticateBody', 'buildRefreshBody', 'now'] as const) {
    assertConfig(typeof settings[name] === 'function', `${name} must be a function`);
  }
  return settings;
}

/**
 * Parses and checks `baseUrl`, returning it without a trailing slash, query or fragment: https,
 * or http on a loopback host only, and no credentials.
 */
function parseBaseUrl(baseUrl: unknown): string {
  assertConfig(isNonEmpty(baseUrl), 'baseUrl is required (e.g. https://api.alix.example)');
  assertConfig(URL.canParse(baseUrl as string), 'baseUrl is not an absolute URL');
  const url = new URL(baseUrl as string);
  assertConfig(url.protocol === 'https:' || url.protocol === 'http:', `baseUrl must use https: (got ${url.protocol})`);
  assertConfig(url.username === '' && url.password === '', 'baseUrl must not contain a user name or password');
  assertConfig(
    url.protocol === 'https:' || isLoopbackHost(url.hostname),
    `baseUrl uses plain http: for ${url.hostname}, which only loopback hosts (127.0.0.0/8, ::1, localhost) may. ` +
      `Use https:.`,
  );
  assertConfig(url.search === '' && url.hash === '', 'baseUrl must not contain a query or fragment');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * Who the sessions belong to: the auth origin, the partner code and the user email hashed into a
 * stable id (the email is personal data, never stored in the clear), the origin and the partner
 * code alone into the breaker's scope, and the auth server's `host:port` for messages.
 */
function alixIdentity(baseUrl: string, partnerCode: string, userEmail: string | undefined): ProviderIdentity {
  const url = new URL(baseUrl);
  const digest = (...parts: string[]): string =>
    createHash('sha256')
      .update(['alix', url.origin, ...parts].join('\n'))
      .digest('hex')
      .slice(0, 32);
  const endpoint = `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
  const identity = { id: digest(partnerCode, userEmail ?? ''), scope: digest(partnerCode), endpoint };
  return Object.freeze(userEmail === undefined ? identity : { ...identity, user: userEmail });
}

function createSigner(options: AlixAuthProviderOptions): AlixSigner {
  const hasSigner = options.signer !== undefined;
  assertConfig((options.privateKey !== undefined) !== hasSigner, 'exactly one of privateKey and signer is required');
  if (hasSigner) {
    assertConfig(typeof options.signer === 'function', 'signer must be a function');
    return options.signer as AlixSigner;
  }
  const key = loadPrivateKey(options.privateKey);
  return async (data) =>
    sign('sha256', Buffer.from(data, 'utf8'), { key, padding: constants.RSA_PKCS1_PADDING }).toString('base64');
}

/**
 * Shapes of auth answers already reported (see `AlixAuthProviderOptions.logger`). Process-wide on
 * purpose: the auth API answers every session alike, so one line tells the operator and a line
 * per session or per refresh would bury it. Bounded by the few names × formats the reader accepts.
 */
const reportedShapes = new Set<string>();

/**
 * The provider's own HTTP client. `axios.create()` would merge in the application's global
 * `axios.defaults` (an `Authorization` or `X-Api-Key` header, a `baseURL` with
 * `allowAbsoluteUrls: false` that sends the signed body to another host, `params`, `auth`,
 * agents, a replaced `adapter`…), so the client is a bare `Axios` built from this explicit
 * config alone: no global default and no interceptor of the default instance reaches it.
 * Proxies from the standard environment variables (`HTTPS_PROXY`, `NO_PROXY`) still apply,
 * as axios's http adapter reads them when `proxy` is unset (see docs/alix-auth.md).
 */
function createHttpClient(): InstanceType<typeof axios.Axios> {
  return new axios.Axios({
    adapter: 'http',
    baseURL: undefined,
    allowAbsoluteUrls: true,
    headers: {},
    maxRedirects: 0,
    responseType: 'text',
    responseEncoding: 'utf8',
    transformRequest: [(data: unknown) => data],
    transformResponse: [(data: unknown) => data],
    validateStatus: () => true,
    maxContentLength: MAX_AUTH_RESPONSE_BYTES,
  });
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
  readonly #settings: Settings;
  readonly #signer: AlixSigner;
  readonly #baseUrl: string;
  readonly #http = createHttpClient();
  readonly #logger: Logger;
  /** Who the sessions of this provider belong to: auth origin, partner code and user email, hashed. */
  readonly identity: ProviderIdentity;

  /**
   * @throws {ConfigurationError} when the installed axios is outside the supported range (see
   *   `SUPPORTED_AXIOS_RANGE`), on a missing or empty partnerCode, a missing secretKey (with
   *   the default signed string), a bad or non-loopback `http:` baseUrl, both or neither of
   *   privateKey/signer, or a key that is not a readable RSA private key of 2048+ bits.
   */
  constructor(options: AlixAuthProviderOptions) {
    // The auth calls go through the application's (peer) axios: refuse 0.x and 1.x before 1.6 here, not at the first
    // call.
    assertSupportedPeer('AlixAuthProvider');
    this.#settings = mergeOptions(options);
    this.#baseUrl = parseBaseUrl(options.baseUrl);
    this.#signer = createSigner(options);
    this.#logger = createLogger(options.logger);
    this.identity = alixIdentity(this.#baseUrl, this.#settings.partnerCode, this.#settings.userEmail);
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
    assertConfig(
      (common as AlixAuthProviderOptions).userEmail === undefined,
      'forUsers(): leave out userEmail; each session key is one',
    );
    const shared: AlixAuthProviderOptions =
      common.privateKey === undefined ? { ...common } : { ...common, privateKey: loadPrivateKey(common.privateKey) };
    // The probe validates everything else once.
    new AlixAuthProvider(shared);
    return (userEmail) => new AlixAuthProvider({ ...shared, userEmail });
  }

  /**
   * Full sign-in: POSTs `{ partnerCode, signature }` (plus `userEmail` when configured) to
   * `paths.authenticate`.
   * @throws {AuthRejectedError} on `success: false` or a 4xx (not 429).
   * @throws {AuthUnavailableError} on network errors, timeouts, 5xx and 429.
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
    assertConfig(typeof refreshToken === 'string' && refreshToken !== '', 'refresh() needs a non-empty refresh token');
    return this.#call('refresh', refreshToken, signal);
  }

  async #call(
    operation: AuthOperation,
    refreshToken: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<TokenSet> {
    const { timeoutMs, signerTimeoutMs, secretKey } = this.#settings;
    // The full URL (origin + path, never a query) goes into every message: a baseUrl whose
    // path prefix doubles the API's own (`/api/api/v2/…`) is then plain to see.
    const url = `${this.#baseUrl}${this.#settings.paths[operation]}`;
    const aborted = (): AbortedError => new AbortedError(`${operation} aborted by the caller: POST ${url}`);
    if (signal?.aborted) throw aborted();
    const signerTimeout = (): TimeoutError => new TimeoutError({ stage: 'signer', timeoutMs: signerTimeoutMs });
    const signing = withTimeout(this.#sign(operation), systemClock, signerTimeoutMs, signerTimeout);
    const signature = await waitWithSignal(signing, signal, aborted);
    const data = this.#body(operation, signature, refreshToken);

    const controller = new AbortController();
    const timer = setUnrefTimeout(systemClock, () => controller.abort(TIMED_OUT), timeoutMs);
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let response: AxiosResponse<unknown>;
    try {
      if (signal?.aborted) throw aborted();
      const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
      response = await this.#http.request({ method: 'POST', url, data, headers, signal: controller.signal });
    } catch (error) {
      const timedOut = controller.signal.reason === TIMED_OUT;
      const context = { operation, url, aborted: signal?.aborted === true && !timedOut, timedOut, timeoutMs };
      throw classifyTransportError(error, context);
    } finally {
      systemClock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }

    const headers = Object.entries(response.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]);
    const text = typeof response.data === 'string' ? response.data : '';
    return interpretResponse(
      { status: response.status, headers: Object.fromEntries(headers) as Record<string, unknown>, text },
      {
        operation,
        url,
        secrets: [signature, refreshToken, secretKey].filter((secret): secret is string => secret !== undefined),
        now: this.#settings.now(),
        onNonSampleShape: (shape) => this.#reportShape(shape),
      },
    );
  }

  /**
   * Signs this call's string. A signer's own error of this library passes (so a signer can throw
   * `AuthUnavailableError` to ask for a retry); any other becomes a {@link ConfigurationError} whose
   * cause has the signed data and the secret key taken out (it may echo them).
   */
  async #sign(operation: AuthOperation): Promise<string> {
    const { partnerCode, secretKey, userEmail, signedString } = this.#settings;
    const secrets = [secretKey ?? ''];
    const data = runUserCode(`${operation} failed: signedString() threw`, secrets, () =>
      signedString({ partnerCode, secretKey, userEmail, operation }),
    );
    assertConfig(
      typeof data === 'string' && data !== '',
      `${operation} failed: signedString() did not return a non-empty string`,
    );
    let signature: unknown;
    try {
      signature = await this.#signer(data);
    } catch (error) {
      if (isTokenManagerError(error)) throw error;
      const name = error instanceof Error ? error.name : typeof error;
      const cause = sanitizeCauseOf(error, [data, ...secrets]);
      throw new ConfigurationError(`${operation} failed: the signer threw (${name})`, { cause });
    }
    assertConfig(
      typeof signature === 'string' && signature !== '' && BASE64.test(signature),
      `${operation} failed: the signer did not return a base64 string`,
    );
    return signature as string;
  }

  #body(operation: AuthOperation, signature: string, refreshToken: string | undefined): string {
    const { partnerCode, userEmail, buildAuthenticateBody, buildRefreshBody } = this.#settings;
    const optional = userEmail === undefined ? {} : { userEmail };
    const body = runUserCode(`${operation} failed: the request body builder threw`, [], () =>
      refreshToken === undefined
        ? buildAuthenticateBody({ partnerCode, signature, ...optional })
        : buildRefreshBody({ partnerCode, signature, refreshToken, ...optional }),
    );
    assertConfig(
      typeof body === 'object' && body !== null,
      `${operation} failed: the request body builder did not return an object`,
    );
    return JSON.stringify(body);
  }

  /**
   * Logs at warn level, the first time this process meets it, an answer shape the page's sample
   * does not show. A logger that would drop the line (the default silent one) does not use up the
   * report, so a provider given a logger later still tells. Never throws.
   */
  #reportShape(shape: string): void {
    try {
      if (reportedShapes.has(shape) || !this.#logger.isLevelEnabled('warn')) return;
      reportedShapes.add(shape);
      this.#logger.warn(
        { event: 'auth-response-shape', shape },
        `the Alix auth API answered in a shape its published sample does not show (${shape}); read it as documented ` +
          'in docs/alix-auth.md; this is logged once per process',
      );
    } catch {
      // Logging never breaks a sign-in or refresh.
    }
  }
}

/** Runs user code (signedString, a body builder): a throw becomes a ConfigurationError, its cause without `secrets`. */
function runUserCode<T>(message: string, secrets: readonly string[], run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw new ConfigurationError(message, { cause: sanitizeCauseOf(error, secrets) });
  }
}
