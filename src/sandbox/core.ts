/**
 * The sandbox's logic, free of any transport: a request goes in, an answer comes out.
 * The node:http server and the msw handlers both wrap one of these, so they behave alike.
 */
import { randomUUID } from 'node:crypto';
import { setUnrefTimeout, systemClock } from '../clock';
import { ConfigurationError } from '../errors';
import {
  MALFORMED_BODY,
  SandboxErrorCodes,
  failureEnvelope,
  successEnvelope,
  toEpochSecondsString,
  toIsoDatetime,
  type AlixTokenData,
  type AlixTokenDatetimeData,
} from './envelope';
import { FaultQueue, type SandboxAuthEndpoint, type SandboxFault } from './faults';
import { verifyAlixSignature } from './keys';
import { resolveSandboxOptions, type AlixSandboxOptions, type ResolvedSandboxOptions } from './options';
import { SandboxTokenRegistry, type AccessTokenCheck, type RefreshTokenProblem } from './state';
import type {
  AlixSandboxControl,
  SandboxAuthCallListener,
  SandboxCounters,
  SandboxReply,
  SandboxRequest,
  SandboxResponse,
  SandboxUserAuthCalls,
  SandboxUserCounters,
} from './types';

/** The routes the sandbox serves. */
export const SANDBOX_PATHS = Object.freeze({
  authenticate: '/api/v2/auth/access-token',
  refresh: '/api/v2/auth/refresh-token',
  cards: '/api/v2/cards',
});

/**
 * The request header naming the end user a resource request acts for. When a request to
 * `GET /api/v2/cards` carries it, the bearer token must have been issued to that user (exact,
 * case-sensitive match), else the answer is 403 with errorCode 44.
 */
export const SANDBOX_USER_HEADER = 'X-Alix-User';

const REFRESH_PROBLEMS: Readonly<Record<RefreshTokenProblem, [number, string]>> = {
  unknown: [SandboxErrorCodes.INVALID_REFRESH_TOKEN, 'The refresh token is invalid'],
  used: [SandboxErrorCodes.REFRESH_TOKEN_USED, 'The refresh token has already been used'],
  expired: [SandboxErrorCodes.REFRESH_TOKEN_EXPIRED, 'The refresh token has expired'],
  revoked: [SandboxErrorCodes.REFRESH_TOKEN_REVOKED, 'The refresh token has been revoked'],
};

const ACCESS_PROBLEMS: Readonly<Record<Exclude<AccessTokenCheck, 'valid'>, [number, string]>> = {
  unknown: [SandboxErrorCodes.INVALID_ACCESS_TOKEN, 'The access token is invalid'],
  expired: [SandboxErrorCodes.ACCESS_TOKEN_EXPIRED, 'The access token has expired'],
  revoked: [SandboxErrorCodes.ACCESS_TOKEN_REVOKED, 'The access token has been revoked'],
};

function zeroCounters(): SandboxCounters {
  return { authenticate: 0, refresh: 0, authFailures: 0, resourceRequests: 0, resource401s: 0, requests: 0 };
}

function header(headers: SandboxRequest['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(', ') : value;
  }
  return undefined;
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves after `ms`, or at once when the signal aborts (the client is gone). */
function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      systemClock.clearTimeout(handle);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const handle = setUnrefTimeout(systemClock, done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * A fake Alix auth server with one partner: verifies RSA signatures, issues rotating
 * tokens with the exact Alix envelope, guards `GET /api/v2/cards`, and lets a test revoke
 * tokens, move time, inject faults and count calls. Tokens are per end user: a sign-in's
 * `userEmail` becomes a claim that refreshes keep, auth calls are counted per user, and a
 * resource request naming its user in `X-Alix-User` is refused (403) with another user's token.
 * Faults and revocations can aim at one user; the `strict` option enforces the Alix page's
 * tables where they disagree with its sample.
 * @example
 * const core = new AlixSandboxCore({ accessTokenTtlMs: 60_000 });
 * const reply = await core.handle({ method: 'GET', path: '/api/v2/cards', headers: {}, bodyText: '' });
 * // reply: { status: 401, headers: {...}, bodyText: '{"success":false,...}' }
 */
export class AlixSandboxCore implements AlixSandboxControl {
  /** The partner code the sandbox accepts. */
  readonly partnerCode: string;
  /** The partner's secret key (signed as `partnerCode|secretKey`). */
  readonly secretKey: string;
  /** The partner's public key, SPKI PEM. */
  readonly publicKeyPem: string;
  readonly #options: ResolvedSandboxOptions;
  readonly #tokens: SandboxTokenRegistry;
  readonly #faults = new FaultQueue();
  readonly #listeners = new Set<SandboxAuthCallListener>();
  #counters = zeroCounters();
  #userCalls = new Map<string, SandboxUserAuthCalls>();
  #anonymousCalls: SandboxUserAuthCalls = { authenticate: 0, refresh: 0 };
  #resourceUserMismatches = 0;
  #shiftMs = 0;

  /** @throws {ConfigurationError} on a bad option. */
  constructor(options: AlixSandboxOptions = {}) {
    this.#options = resolveSandboxOptions(options);
    this.partnerCode = this.#options.partnerCode;
    this.secretKey = this.#options.secretKey;
    this.publicKeyPem = this.#options.publicKeyPem;
    this.#tokens = new SandboxTokenRegistry(this.#options.tokenSigningSecret);
    if (this.#options.onAuthCall !== undefined) this.#listeners.add(this.#options.onAuthCall);
  }

  /**
   * The partner's private key, PKCS#8 PEM, for signing in tests and demos.
   * @throws {ConfigurationError} when the sandbox was given only a public key.
   */
  get privateKeyPem(): string {
    if (this.#options.privateKeyPem === undefined) {
      throw new ConfigurationError('the sandbox was given only publicKeyPem, so it has no private key to expose');
    }
    return this.#options.privateKeyPem;
  }

  /** Answers one request. Never rejects. */
  async handle(request: SandboxRequest, signal?: AbortSignal): Promise<SandboxReply> {
    this.#counters.requests += 1;
    const path = request.path.split('?')[0] ?? '';
    const method = request.method.toUpperCase();
    if (path === SANDBOX_PATHS.authenticate || path === SANDBOX_PATHS.refresh) {
      if (method !== 'POST') return this.#methodNotAllowed('POST');
      return this.#authCall(path === SANDBOX_PATHS.authenticate ? 'authenticate' : 'refresh', request, signal);
    }
    if (path === SANDBOX_PATHS.cards) {
      if (method !== 'GET') return this.#methodNotAllowed('GET');
      return this.#cards(request);
    }
    return this.#json(404, failureEnvelope(SandboxErrorCodes.NOT_FOUND, `No route for ${method} ${path}`));
  }

  now(): number {
    return this.#options.now() + this.#shiftMs;
  }

  shiftClock(ms: number): void {
    if (!Number.isFinite(ms)) throw new RangeError('shiftClock(): ms must be a finite number');
    this.#shiftMs += ms;
  }

  revokeAccessTokens(userEmail?: string): void {
    this.#tokens.revokeAccessTokens(checkRevokedUser('revokeAccessTokens', userEmail));
  }

  revokeRefreshTokens(userEmail?: string): void {
    this.#tokens.revokeRefreshTokens(checkRevokedUser('revokeRefreshTokens', userEmail));
  }

  injectFaults(count: number, fault: SandboxFault): void {
    this.#faults.add(count, fault);
  }

  clearFaults(): void {
    this.#faults.clear();
  }

  pendingFaults(): number {
    return this.#faults.size;
  }

  counters(): SandboxCounters {
    return { ...this.#counters };
  }

  resetCounters(): void {
    this.#counters = zeroCounters();
    this.#userCalls = new Map();
    this.#anonymousCalls = { authenticate: 0, refresh: 0 };
    this.#resourceUserMismatches = 0;
  }

  authCallsFor(userEmail?: string): SandboxUserAuthCalls {
    const calls = userEmail === undefined || userEmail === '' ? this.#anonymousCalls : this.#userCalls.get(userEmail);
    return { authenticate: calls?.authenticate ?? 0, refresh: calls?.refresh ?? 0 };
  }

  userCounters(): SandboxUserCounters {
    const byUser = new Map<string, SandboxUserAuthCalls>();
    for (const [user, calls] of this.#userCalls) byUser.set(user, { ...calls });
    return { byUser, resourceUserMismatches: this.#resourceUserMismatches };
  }

  onAuthCall(listener: SandboxAuthCallListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Builds a request body's answer for a 413 (used by the server's size limit). */
  payloadTooLarge(): SandboxResponse {
    return this.#json(413, failureEnvelope(SandboxErrorCodes.PAYLOAD_TOO_LARGE, 'The request body is too large'));
  }

  async #authCall(
    endpoint: SandboxAuthEndpoint,
    request: SandboxRequest,
    signal: AbortSignal | undefined,
  ): Promise<SandboxReply> {
    this.#counters[endpoint] += 1;
    const userEmail = this.#userOf(endpoint, request);
    this.#countUserCall(endpoint, userEmail);
    const fault = this.#faults.take({ endpoint, userEmail });
    if (fault?.type === 'delay') {
      await wait(fault.ms, signal);
      if (signal?.aborted) return { reset: true };
    }
    const decisive = fault !== undefined && fault.type !== 'delay' ? fault : undefined;
    const processes = decisive === undefined || ('afterProcessing' in decisive && decisive.afterProcessing === true);
    let reply: SandboxReply = processes ? this.#processAuth(endpoint, request) : { reset: true };
    if (decisive !== undefined) reply = this.#faultReply(decisive);
    const status = 'reset' in reply ? undefined : reply.status;
    const outcome = decisive !== undefined ? 'fault' : status === 200 ? 'success' : 'rejected';
    if (outcome !== 'success') this.#counters.authFailures += 1;
    this.#emit({
      endpoint,
      outcome,
      status,
      errorCode: 'reset' in reply ? undefined : readErrorCode(reply.bodyText),
      fault: fault?.type,
      at: this.now(),
    });
    return reply;
  }

  #processAuth(endpoint: SandboxAuthEndpoint, request: SandboxRequest): SandboxResponse {
    const contentType = header(request.headers, 'content-type') ?? '';
    if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(contentType.trim())) {
      return this.#reject(SandboxErrorCodes.INVALID_REQUEST, 'Content-Type must be application/json');
    }
    const body = parseJsonObject(request.bodyText);
    if (body === undefined)
      return this.#reject(SandboxErrorCodes.INVALID_REQUEST, 'The request body must be a JSON object');
    const { partnerCode, signature, refreshToken, userEmail } = body;
    const missing = [
      ['partnerCode', partnerCode],
      ['signature', signature],
      ...(endpoint === 'refresh' ? [['refreshToken', refreshToken]] : []),
    ].find(([, value]) => typeof value !== 'string' || value === '');
    if (missing !== undefined)
      return this.#reject(SandboxErrorCodes.INVALID_REQUEST, `${String(missing[0])} is required`);
    if (userEmail !== undefined && typeof userEmail !== 'string') {
      return this.#reject(SandboxErrorCodes.INVALID_REQUEST, 'userEmail must be a string');
    }
    const userEmailMissing = userEmail === undefined || userEmail === '';
    if (endpoint === 'refresh' && this.#options.strict.refreshUserEmail && userEmailMissing) {
      return this.#reject(SandboxErrorCodes.INVALID_REQUEST, 'userEmail is required');
    }
    if (partnerCode !== this.partnerCode)
      return this.#reject(SandboxErrorCodes.UNKNOWN_PARTNER, 'The partner code is not recognised');
    if (!verifyAlixSignature(this.#options.publicKey, this.partnerCode, this.secretKey, signature as string)) {
      return this.#reject(SandboxErrorCodes.INVALID_SIGNATURE, 'The signature is invalid');
    }
    const nowMs = this.now();
    let session: string = randomUUID();
    // A sign-in names its user; a refresh keeps the user of its refresh token (a userEmail in its body is ignored).
    let user = userEmail === '' ? undefined : (userEmail as string | undefined);
    if (endpoint === 'refresh') {
      const spent = this.#tokens.consumeRefresh(refreshToken as string, this.partnerCode, nowMs);
      if (!spent.ok) return this.#reject(...REFRESH_PROBLEMS[spent.problem]);
      session = spent.session;
      user = spent.userEmail;
    }
    const pair = this.#tokens.issue({
      partnerCode: this.partnerCode,
      userEmail: user,
      session,
      nowMs,
      accessTokenTtlMs: this.#options.accessTokenTtlMs,
      refreshTokenTtlMs: this.#options.refreshTokenTtlMs,
    });
    const tokens = { accessToken: pair.accessToken, refreshToken: pair.refreshToken };
    const data: AlixTokenData | AlixTokenDatetimeData = this.#options.strict.datetimeExpiries
      ? {
          ...tokens,
          accessTokenExpiredAt: toIsoDatetime(pair.accessTokenExpiresAt),
          refreshTokenExpiredAt: toIsoDatetime(pair.refreshTokenExpiresAt),
        }
      : {
          ...tokens,
          accessTokenExpiresAt: toEpochSecondsString(pair.accessTokenExpiresAt),
          refreshTokenExpiresAt: toEpochSecondsString(pair.refreshTokenExpiresAt),
        };
    return this.#json(200, successEnvelope(data), { 'Cache-Control': 'no-store' });
  }

  #cards(request: SandboxRequest): SandboxResponse {
    this.#counters.resourceRequests += 1;
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header(request.headers, 'authorization') ?? '');
    const token = match?.[1];
    const check: AccessTokenCheck | 'missing' =
      token === undefined ? 'missing' : this.#tokens.checkAccess(token, this.now());
    if (check === 'valid') {
      const claimedUser = header(request.headers, SANDBOX_USER_HEADER.toLowerCase())?.trim();
      if (claimedUser === undefined || claimedUser === '') return this.#json(200, successEnvelope(this.#options.cards));
      const owner = this.#tokens.accessTokenUser(token as string);
      if (owner.known && owner.userEmail === claimedUser) return this.#json(200, successEnvelope(this.#options.cards));
      this.#resourceUserMismatches += 1;
      return this.#json(
        403,
        failureEnvelope(
          SandboxErrorCodes.TOKEN_USER_MISMATCH,
          `The access token was not issued to the user named in ${SANDBOX_USER_HEADER}`,
        ),
      );
    }
    this.#counters.resource401s += 1;
    const [errorCode, message] =
      check === 'missing'
        ? [SandboxErrorCodes.MISSING_ACCESS_TOKEN, 'An access token is required']
        : ACCESS_PROBLEMS[check];
    const challenge = check === 'missing' ? 'Bearer' : 'Bearer error="invalid_token"';
    return this.#json(401, failureEnvelope(errorCode, message), { 'WWW-Authenticate': challenge });
  }

  /**
   * The end user an auth call acts for, whatever its outcome: the sign-in's `userEmail`, the
   * refresh token's user (a refresh body's `userEmail` is a claim, the token is the proof).
   */
  #userOf(endpoint: SandboxAuthEndpoint, request: SandboxRequest): string | undefined {
    const body = parseJsonObject(request.bodyText);
    if (endpoint === 'authenticate') {
      return typeof body?.userEmail === 'string' && body.userEmail !== '' ? body.userEmail : undefined;
    }
    return typeof body?.refreshToken === 'string' ? this.#tokens.refreshTokenUser(body.refreshToken) : undefined;
  }

  #countUserCall(endpoint: SandboxAuthEndpoint, user: string | undefined): void {
    let calls = user === undefined ? this.#anonymousCalls : this.#userCalls.get(user);
    if (calls === undefined) {
      calls = { authenticate: 0, refresh: 0 };
      this.#userCalls.set(user as string, calls);
    }
    calls[endpoint] += 1;
  }

  #faultReply(fault: Exclude<SandboxFault, { type: 'delay' }>): SandboxReply {
    switch (fault.type) {
      case 'reset':
        return { reset: true };
      case 'malformed':
        return { status: 200, headers: this.#headers(), bodyText: MALFORMED_BODY };
      case 'reject':
        return this.#json(
          fault.status ?? 400,
          failureEnvelope(fault.errorCode, fault.message ?? 'Rejected by the sandbox (injected fault)'),
        );
      case 'status': {
        const extra: Record<string, string> =
          fault.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(Math.ceil(fault.retryAfterSeconds)) };
        return this.#json(fault.status, failureEnvelope(fault.status, `Injected HTTP ${fault.status}`), extra);
      }
    }
  }

  #reject(errorCode: number, message: string): SandboxResponse {
    return this.#json(400, failureEnvelope(errorCode, message));
  }

  #methodNotAllowed(allow: string): SandboxResponse {
    return this.#json(405, failureEnvelope(SandboxErrorCodes.METHOD_NOT_ALLOWED, `Use ${allow}`), { Allow: allow });
  }

  #json(status: number, body: unknown, extra: Record<string, string> = {}): SandboxResponse {
    return { status, headers: { ...this.#headers(), ...extra }, bodyText: JSON.stringify(body) };
  }

  #headers(): Record<string, string> {
    return { 'Content-Type': 'application/json; charset=utf-8', Date: new Date(this.now()).toUTCString() };
  }

  #emit(event: Parameters<SandboxAuthCallListener>[0]): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A test's listener must not break the sandbox.
      }
    }
  }
}

function checkRevokedUser(method: string, userEmail: string | undefined): string | undefined {
  if (userEmail !== undefined && (typeof userEmail !== 'string' || userEmail === '')) {
    throw new TypeError(`${method}(): userEmail must be a non-empty string`);
  }
  return userEmail;
}

function readErrorCode(bodyText: string): number | undefined {
  const body = parseJsonObject(bodyText);
  return typeof body?.errorCode === 'number' ? body.errorCode : undefined;
}
