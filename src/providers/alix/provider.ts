/**
 * AlixAuthProvider: the two Alix auth calls (sign-in and refresh) over a private axios
 * instance, signed with the partner's RSA key.
 */
import axios, { type AxiosResponse } from 'axios';
import { setUnrefTimeout, systemClock, withTimeout } from '../../clock';
import { AbortedError, ConfigurationError, TimeoutError, type AuthOperation } from '../../errors';
import type { TokenSet } from '../../token-set';
import type { ProviderIdentity, TokenProvider } from '../types';
import { alixIdentity } from './identity';
import { parseBaseUrl } from './base-url';
import { classifyTransportError, interpretResponse } from './classify';
import {
  DEFAULT_ALIX_AUTH_PROVIDER_OPTIONS,
  defaultSignedString,
  type AlixAuthPaths,
  type AlixAuthProviderOptions,
  type AlixSigner,
} from './options';
import { loadPrivateKey } from './private-key';
import { createKeySigner, runSigner } from './signer';
import { waitWithSignal } from '../../wait-with-signal';
import { sanitizeCauseOf } from '../../redaction';
import { assertPositiveMs, definedOnly } from '../../defaults';
import { assertSupportedPeer } from '../../axios-peer-version';
import { createLogger, type Logger } from '../../logger';
import { reportNonSampleShape } from './shape-warning';

/** A bare axios client (`axios.Axios`), typed the same way in the ESM and CommonJS typings. */
type AxiosClient = InstanceType<typeof axios.Axios>;

/** Responses larger than this are refused as malformed, in bytes (1 MiB). */
export const MAX_AUTH_RESPONSE_BYTES = 1024 * 1024;

type Held = 'baseUrl' | 'privateKey' | 'signer' | 'secretKey' | 'userEmail' | 'paths' | 'logger';
type Settings = Required<Omit<AlixAuthProviderOptions, Held>> & {
  secretKey: string | undefined;
  userEmail: string | undefined;
  paths: AlixAuthPaths;
};

function requireNonEmpty(value: unknown, name: string): void {
  if (typeof value !== 'string' || value.trim() === '')
    throw new ConfigurationError(`${name} is required and must be a non-empty string`);
}

function requireFunction(value: unknown, name: string): void {
  if (typeof value !== 'function') throw new ConfigurationError(`${name} must be a function`);
}

function mergeOptions(options: AlixAuthProviderOptions): Settings {
  if (typeof options !== 'object' || options === null)
    throw new ConfigurationError('AlixAuthProvider options are required');
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
  requireNonEmpty(settings.partnerCode, 'partnerCode');
  if (settings.signedString === defaultSignedString || settings.secretKey !== undefined) {
    requireNonEmpty(settings.secretKey, 'secretKey');
  }
  if (settings.userEmail !== undefined) requireNonEmpty(settings.userEmail, 'userEmail');
  for (const [name, path] of Object.entries(settings.paths)) {
    if (typeof path !== 'string' || !path.startsWith('/'))
      throw new ConfigurationError(`paths.${name} must be a string starting with '/'`);
  }
  assertPositiveMs('timeoutMs', settings.timeoutMs);
  assertPositiveMs('signerTimeoutMs', settings.signerTimeoutMs);
  requireFunction(settings.signedString, 'signedString');
  requireFunction(settings.buildAuthenticateBody, 'buildAuthenticateBody');
  requireFunction(settings.buildRefreshBody, 'buildRefreshBody');
  requireFunction(settings.now, 'now');
  return settings;
}

function createSigner(options: AlixAuthProviderOptions): AlixSigner {
  const hasKey = options.privateKey !== undefined;
  const hasSigner = options.signer !== undefined;
  if (hasKey === hasSigner) throw new ConfigurationError('exactly one of privateKey and signer is required');
  if (hasSigner) {
    requireFunction(options.signer, 'signer');
    return options.signer as AlixSigner;
  }
  return createKeySigner(loadPrivateKey(options.privateKey));
}

/**
 * The provider's own HTTP client. `axios.create()` would merge in the application's global
 * `axios.defaults` (an `Authorization` or `X-Api-Key` header, a `baseURL` with
 * `allowAbsoluteUrls: false` that sends the signed body to another host, `params`, `auth`,
 * agents, a replaced `adapter`…), so the client is a bare `Axios` built from this explicit
 * config alone: no global default and no interceptor of the default instance reaches it.
 * Proxies from the standard environment variables (`HTTPS_PROXY`, `NO_PROXY`) still apply,
 * as axios's http adapter reads them when `proxy` is unset (see docs/alix-auth.md).
 */
function createHttpClient(): AxiosClient {
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

function lowerCaseHeaders(headers: AxiosResponse['headers']): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers ?? {})) result[name.toLowerCase()] = value;
  return result;
}

function abortedError(operation: AuthOperation, url: string): AbortedError {
  return new AbortedError(`${operation} aborted by the caller: POST ${url}`);
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
  readonly #http: AxiosClient;
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
    this.#http = createHttpClient();
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
    if (typeof common !== 'object' || common === null)
      throw new ConfigurationError('AlixAuthProvider options are required');
    if ((common as AlixAuthProviderOptions).userEmail !== undefined)
      throw new ConfigurationError('forUsers(): leave out userEmail; each session key is one');
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
  refresh(refreshToken: string, signal?: AbortSignal): Promise<TokenSet> {
    if (typeof refreshToken !== 'string' || refreshToken === '') {
      return Promise.reject(new ConfigurationError('refresh() needs a non-empty refresh token'));
    }
    return this.#call('refresh', refreshToken, signal);
  }

  async #call(
    operation: AuthOperation,
    refreshToken: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<TokenSet> {
    const settings = this.#settings;
    // The full URL (origin + path, never a query) goes into every message: a baseUrl whose
    // path prefix doubles the API's own (`/api/api/v2/…`) is then plain to see.
    const url = `${this.#baseUrl}${settings.paths[operation]}`;
    if (signal?.aborted) throw abortedError(operation, url);

    const signature = await waitWithSignal(
      withTimeout(
        runSigner(this.#signer, this.#signedString(operation), operation, [this.#settings.secretKey ?? '']),
        systemClock,
        settings.signerTimeoutMs,
        () => new TimeoutError({ stage: 'signer', timeoutMs: settings.signerTimeoutMs }),
      ),
      signal,
      () => abortedError(operation, url),
    );
    const body = this.#body(operation, signature, refreshToken);

    const controller = new AbortController();
    let timedOut = false;
    const timer = setUnrefTimeout(
      systemClock,
      () => {
        timedOut = true;
        controller.abort();
      },
      settings.timeoutMs,
    );
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let response: AxiosResponse<unknown>;
    try {
      if (signal?.aborted) throw abortedError(operation, url);
      response = await this.#http.request({
        method: 'POST',
        url,
        data: body,
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        signal: controller.signal,
      });
    } catch (error) {
      throw classifyTransportError(error, {
        operation,
        url,
        aborted: signal?.aborted === true && !timedOut,
        timedOut,
        timeoutMs: settings.timeoutMs,
      });
    } finally {
      systemClock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }

    const secrets = [signature, refreshToken, settings.secretKey].filter((s): s is string => s !== undefined);
    return interpretResponse(
      {
        status: response.status,
        headers: lowerCaseHeaders(response.headers),
        text: typeof response.data === 'string' ? response.data : '',
      },
      {
        operation,
        url,
        secrets,
        now: settings.now(),
        onNonSampleShape: (shape) => reportNonSampleShape(this.#logger, shape),
      },
    );
  }

  #signedString(operation: AuthOperation): string {
    const { partnerCode, secretKey, userEmail, signedString } = this.#settings;
    let data: unknown;
    try {
      data = signedString({ partnerCode, secretKey, userEmail, operation });
    } catch (error) {
      throw new ConfigurationError(`${operation} failed: signedString() threw`, {
        cause: sanitizeCauseOf(error, [secretKey ?? '']),
      });
    }
    if (typeof data !== 'string' || data === '')
      throw new ConfigurationError(`${operation} failed: signedString() did not return a non-empty string`);
    return data;
  }

  #body(operation: AuthOperation, signature: string, refreshToken: string | undefined): string {
    const { partnerCode, userEmail, buildAuthenticateBody, buildRefreshBody } = this.#settings;
    const optional = userEmail === undefined ? {} : { userEmail };
    let body: unknown;
    try {
      body =
        refreshToken === undefined
          ? buildAuthenticateBody({ partnerCode, signature, ...optional })
          : buildRefreshBody({ partnerCode, signature, refreshToken, ...optional });
    } catch (error) {
      throw new ConfigurationError(`${operation} failed: the request body builder threw`, { cause: error });
    }
    if (typeof body !== 'object' || body === null)
      throw new ConfigurationError(`${operation} failed: the request body builder did not return an object`);
    return JSON.stringify(body);
  }
}
