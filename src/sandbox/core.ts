/**
 * The sandbox's logic, free of any transport: a request goes in, an answer comes out.
 * The node:http server and the msw handlers both wrap one of these, so they behave alike.
 */
import { randomUUID } from 'node:crypto';
import { holdProcessOpen, sleep, systemClock } from '../clock';
import { ConfigurationError, assertConfig } from '../errors';
import { parseJsonObject } from '../json';
import { MALFORMED_BODY, SandboxErrorCodes, TOKEN_PROBLEMS, successEnvelope } from './envelope';
import { checkUserEmail, queueFault, takeFault, type QueuedFault, type SandboxAuthEndpoint } from './faults';
import type { SandboxFault } from './faults';
import { verifyAlixSignature } from './keys';
import { resolveSandboxOptions, type AlixSandboxOptions, type ResolvedSandboxOptions } from './options';
import { SandboxTokenRegistry, type TokenSession } from './state';
import type { SandboxAuthCallEvent, SandboxAuthCallListener, SandboxCounters } from './types';
import type { SandboxReply, SandboxRequest, SandboxResponse, SandboxUserAuthCalls, SandboxUserCounters } from './types';

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

/** The most users whose auth calls are counted, the calls naming none taking one place (see `userCounters()`). */
export const MAX_COUNTED_USERS = 100_000;

/** The test controls, by name: the core's methods a running server forwards to it. */
export const SANDBOX_CONTROLS = [
  'now',
  'shiftClock',
  'revokeAccessTokens',
  'revokeRefreshTokens',
  'injectFaults',
  'clearFaults',
  'pendingFaults',
  'counters',
  'resetCounters',
  'authCallsFor',
  'userCounters',
  'onAuthCall',
] as const;

/** The test-control surface shared by the core, the server and the msw handlers. */
export type AlixSandboxControl = Pick<AlixSandboxCore, (typeof SANDBOX_CONTROLS)[number]>;

function zeroCounters(): SandboxCounters {
  return { authenticate: 0, refresh: 0, authFailures: 0, resourceRequests: 0, resource401s: 0, requests: 0 };
}

function header(headers: SandboxRequest['headers'], name: string): string | undefined {
  const entry = Object.entries(headers).find(([key]) => key.toLowerCase() === name);
  return Array.isArray(entry?.[1]) ? entry[1].join(', ') : entry?.[1];
}

/**
 * The core a front end serves: the one given, or a new one built from the sandbox options;
 * both at once is a ConfigurationError naming `caller`.
 */
export function coreFor(caller: string, core: AlixSandboxCore | undefined, options: AlixSandboxOptions) {
  const extra = Object.keys(options).filter((key) => options[key as keyof AlixSandboxOptions] !== undefined);
  if (core === undefined || extra.length === 0) return core;
  throw new ConfigurationError(`${caller}: pass either core or sandbox options, not both (${extra.join(', ')})`);
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
export class AlixSandboxCore {
  /** The partner code the sandbox accepts. */
  readonly partnerCode: string;
  /** The partner's secret key (signed as `partnerCode|secretKey`). */
  readonly secretKey: string;
  /** The partner's public key, SPKI PEM. */
  readonly publicKeyPem: string;
  readonly #options: ResolvedSandboxOptions;
  readonly #tokens: SandboxTokenRegistry;
  readonly #faults: QueuedFault[] = [];
  readonly #listeners = new Set<SandboxAuthCallListener>();
  #counters = zeroCounters();
  /** Auth calls by end user; the `undefined` key holds the calls that named none. */
  #userCalls = new Map<string | undefined, SandboxUserAuthCalls>();
  #resourceUserMismatches = 0;
  #shiftMs = 0;
  /** The signature that verified last (see #verifies). */
  #validSignature: string | undefined;

  /** @throws {ConfigurationError} on a bad option, or a `now` option that answers other than a finite number. */
  constructor(options: AlixSandboxOptions = {}) {
    this.#options = resolveSandboxOptions(options);
    this.now(); // A clock answering NaN or a Date fails here, not in every answer (a dropped socket, an msw 500).
    ({ partnerCode: this.partnerCode, secretKey: this.secretKey, publicKeyPem: this.publicKeyPem } = this.#options);
    this.#tokens = new SandboxTokenRegistry(this.#options);
    if (this.#options.onAuthCall !== undefined) this.#listeners.add(this.#options.onAuthCall);
  }

  /**
   * The partner's private key, PKCS#8 PEM, for signing in tests and demos.
   * @throws {ConfigurationError} when the sandbox was given only a public key.
   */
  get privateKeyPem(): string {
    const pem = this.#options.privateKeyPem;
    assertConfig(pem !== undefined, 'the sandbox was given only publicKeyPem, so it has no private key to expose');
    return pem;
  }

  /** Answers one request. Never rejects, unless the `now` option comes to answer other than a finite number. */
  async handle(request: SandboxRequest, signal?: AbortSignal): Promise<SandboxReply> {
    this.#counters.requests += 1;
    const path = request.path.split('?')[0] ?? '';
    const method = request.method.toUpperCase();
    const auth = path === SANDBOX_PATHS.authenticate || path === SANDBOX_PATHS.refresh;
    // HEAD is answered where GET is; the front ends send its answer without the body.
    const allow = path === SANDBOX_PATHS.cards ? 'GET, HEAD' : auth ? 'POST' : '';
    if (allow === '') return this.#fail(404, SandboxErrorCodes.NOT_FOUND, `No route for ${method} ${path}`);
    if (!allow.split(', ').includes(method)) {
      return this.#fail(405, SandboxErrorCodes.METHOD_NOT_ALLOWED, `Use ${allow}`, { Allow: allow });
    }
    if (path === SANDBOX_PATHS.cards) return this.#cards(request);
    return this.#authCall(path === SANDBOX_PATHS.authenticate ? 'authenticate' : 'refresh', request, signal);
  }

  /**
   * Sandbox time, epoch ms: the `now` option plus every `shiftClock()`.
   * @throws {ConfigurationError} when the `now` option answers other than a finite number.
   */
  now(): number {
    const base = this.#options.now();
    assertConfig(Number.isFinite(base), 'sandbox option now must return a finite number of epoch ms');
    return base + this.#shiftMs;
  }

  /**
   * Moves sandbox time by `ms` (may be negative); cumulative.
   * @throws {ConfigurationError} when `ms` is not a finite number.
   */
  shiftClock(ms: number): void {
    assertConfig(Number.isFinite(ms), 'shiftClock(): ms must be a finite number');
    this.#shiftMs += ms;
  }

  /**
   * Every access token issued so far (to `userEmail` only, when given) answers 401 from now on.
   * @throws {ConfigurationError} when `userEmail` is given and is not a non-empty string.
   */
  revokeAccessTokens(userEmail?: string): void {
    this.#tokens.revoke('access', checkUserEmail('revokeAccessTokens', userEmail));
  }

  /**
   * Every refresh token issued so far (to `userEmail` only, when given) is rejected
   * (errorCode 35) from now on.
   * @throws {ConfigurationError} when `userEmail` is given and is not a non-empty string.
   */
  revokeRefreshTokens(userEmail?: string): void {
    this.#tokens.revoke('refresh', checkUserEmail('revokeRefreshTokens', userEmail));
  }

  /**
   * The next `count` auth calls the fault applies to (of `fault.endpoint` and for
   * `fault.userEmail`, when given) get this fault; `Infinity` means every such call until
   * `clearFaults()`.
   * @throws {ConfigurationError} when `count` is not an integer >= 0 or `Infinity`; on an unknown
   *   fault type or endpoint, a fault's number out of range, or a `userEmail` that is not a
   *   non-empty string.
   */
  injectFaults(count: number, fault: SandboxFault): void {
    queueFault(this.#faults, count, fault);
  }

  /** Drops faults not yet used, lasting ones (`Infinity`) too. */
  clearFaults(): void {
    this.#faults.length = 0;
  }

  /** How many faulted calls are still to come: `Infinity` while a lasting fault is queued, 0 when none. */
  pendingFaults(): number {
    return this.#faults.reduce((sum, entry) => sum + entry.remaining, 0);
  }

  /** A snapshot of the counters. */
  counters(): SandboxCounters {
    return { ...this.#counters };
  }

  /** Sets every counter to 0, the per-user ones too. */
  resetCounters(): void {
    this.#counters = zeroCounters();
    this.#userCalls = new Map();
    this.#resourceUserMismatches = 0;
  }

  /**
   * The auth calls made for one end user: sign-ins whose body named `userEmail`, refreshes
   * presenting a refresh token issued to that user. Without an argument: the calls that named
   * no user. Zeros for a user never seen.
   * @throws {ConfigurationError} when `userEmail` is given and is not a non-empty string.
   */
  authCallsFor(userEmail?: string): SandboxUserAuthCalls {
    return { authenticate: 0, refresh: 0, ...this.#userCalls.get(checkUserEmail('authCallsFor', userEmail)) };
  }

  /** A snapshot of the per-user counts: auth calls by user and resource requests refused for the wrong user. */
  userCounters(): SandboxUserCounters {
    const byUser = new Map<string, SandboxUserAuthCalls>();
    for (const [user, calls] of this.#userCalls) if (user !== undefined) byUser.set(user, { ...calls });
    return { byUser, resourceUserMismatches: this.#resourceUserMismatches };
  }

  /**
   * Adds a listener for auth calls; returns its remover.
   * @throws {ConfigurationError} when `listener` is not a function.
   */
  onAuthCall(listener: SandboxAuthCallListener): () => void {
    assertConfig(typeof listener === 'function', 'onAuthCall(): listener must be a function');
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** Builds a request body's answer for a 413 (used by the server's size limit), counted in `requests`. */
  payloadTooLarge(): SandboxResponse {
    this.#counters.requests += 1;
    return this.#fail(413, SandboxErrorCodes.PAYLOAD_TOO_LARGE, 'The request body is too large');
  }

  async #authCall(endpoint: SandboxAuthEndpoint, request: SandboxRequest, signal?: AbortSignal): Promise<SandboxReply> {
    // Counted, its failure too, in the counters it arrived under: a resetCounters() during a delay must not get it.
    const counters = this.#counters;
    counters[endpoint] += 1;
    // The end user the call acts for, whatever its outcome: the sign-in's `userEmail`, the refresh
    // token's user (a refresh body's `userEmail` is a claim, the token is the proof). A sign-in names
    // its user only when it carries the partner's signature: an unsigned caller must not grow the per-user counts
    // without bound.
    const body = parseJsonObject(request.bodyText);
    const userEmail =
      endpoint === 'refresh'
        ? this.#tokens.get(String(body?.refreshToken), 'refresh')?.userEmail
        : (typeof body?.userEmail === 'string' && this.#verifies(body.signature) && body.userEmail) || undefined;
    const calls = this.#userCalls.get(userEmail) ?? { authenticate: 0, refresh: 0 };
    this.#userCalls.set(userEmail, calls);
    // A soak with ever new users must not count them forever: the first seen go first (the calls naming none stay).
    if (this.#userCalls.size > MAX_COUNTED_USERS) {
      const [first, second] = this.#userCalls.keys();
      this.#userCalls.delete(first ?? second);
    }
    calls[endpoint] += 1;
    const fault = takeFault(this.#faults, endpoint, userEmail);
    if (fault?.type === 'delay') {
      // An abort (the client is gone) ends the wait early; the dropped connection is all it gets. The wait keeps the
      // process open, as a slow server's socket would: with msw nothing else does, and a script would exit unanswered.
      await sleep(systemClock, fault.ms, signal)
        .catch(() => undefined)
        .finally(holdProcessOpen());
      if (signal?.aborted) return { reset: true };
    }
    const decisive = fault?.type === 'delay' ? undefined : fault;
    // With `afterProcessing` the request is processed (a refresh token spent, tokens issued), then the fault answers.
    if (decisive !== undefined && 'afterProcessing' in decisive && decisive.afterProcessing === true) {
      this.#processAuth(endpoint, request, body);
    }
    const reply = decisive === undefined ? this.#processAuth(endpoint, request, body) : this.#faultReply(decisive);
    const status = 'reset' in reply ? undefined : reply.status;
    const outcome = decisive !== undefined ? 'fault' : status === 200 ? 'success' : 'rejected';
    if (outcome !== 'success') counters.authFailures += 1;
    // Every body the sandbox sends is an envelope with a numeric errorCode, or not JSON at all (a malformed fault).
    const errorCode = 'reset' in reply ? undefined : (parseJsonObject(reply.bodyText)?.errorCode as number | undefined);
    this.#emit({ endpoint, outcome, status, errorCode, fault: fault?.type, at: this.now() });
    return reply;
  }

  /**
   * Whether `signature` is the partner's. RSA PKCS#1 v1.5 signatures are deterministic and the key and secret are
   * fixed: the one valid signature is kept, so a call is verified once (its count and its processing ask both).
   */
  #verifies(signature: unknown): boolean {
    if (typeof signature !== 'string') return false;
    if (signature === this.#validSignature) return true;
    const valid = verifyAlixSignature(this.#options.publicKey, this.partnerCode, this.secretKey, signature);
    if (valid) this.#validSignature = signature;
    return valid;
  }

  /** The answer to an auth call whose `body` was parsed from the request (`undefined`: not a JSON object). */
  #processAuth(endpoint: SandboxAuthEndpoint, request: SandboxRequest, body: Record<string, unknown> | undefined) {
    const invalid = (message: string): SandboxResponse => this.#fail(400, SandboxErrorCodes.INVALID_REQUEST, message);
    const contentType = header(request.headers, 'content-type') ?? '';
    if (!/^application\/([a-z0-9.+-]*\+)?json[ \t]*(;|$)/i.test(contentType.trim())) {
      return invalid('Content-Type must be application/json');
    }
    if (body === undefined) return invalid('The request body must be a JSON object');
    const { partnerCode, signature, refreshToken, userEmail } = body;
    const required = endpoint === 'refresh' ? { partnerCode, signature, refreshToken } : { partnerCode, signature };
    const missing = Object.entries(required).find(([, value]) => typeof value !== 'string' || value === '');
    if (missing !== undefined) return invalid(`${missing[0]} is required`);
    if (userEmail !== undefined && typeof userEmail !== 'string') return invalid('userEmail must be a string');
    if (endpoint === 'refresh' && this.#options.strict.refreshUserEmail && (userEmail ?? '') === '') {
      return invalid('userEmail is required');
    }
    if (partnerCode !== this.partnerCode) {
      return this.#fail(400, SandboxErrorCodes.UNKNOWN_PARTNER, 'The partner code is not recognised');
    }
    if (!this.#verifies(signature)) {
      return this.#fail(400, SandboxErrorCodes.INVALID_SIGNATURE, 'The signature is invalid');
    }
    const nowMs = this.now();
    // A sign-in names its user; a refresh keeps the session and user of its refresh token (a userEmail in its body
    // is ignored), and spends the token: refresh tokens rotate.
    let session: TokenSession = { session: randomUUID(), userEmail: (userEmail as string | undefined) || undefined };
    if (endpoint === 'refresh') {
      const problem = this.#tokens.problem(refreshToken as string, 'refresh', nowMs);
      if (problem !== undefined) return this.#fail(400, ...TOKEN_PROBLEMS.refresh[problem]);
      session = this.#tokens.spend(refreshToken as string);
    }
    const pair = this.#tokens.issue(session, nowMs);
    // The sample's epoch-second strings named `…ExpiresAt`, or (strict) the table's ISO datetimes named `…ExpiredAt`.
    // Expiries are whole seconds (state.ts), so neither format drops a fraction.
    const [suffix, format] = this.#options.strict.datetimeExpiries
      ? ['ExpiredAt', (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z')]
      : ['ExpiresAt', (ms: number) => String(ms / 1000)];
    const data = {
      accessToken: pair.accessToken,
      refreshToken: pair.refreshToken,
      [`accessToken${suffix}`]: format(pair.accessTokenExpiresAt),
      [`refreshToken${suffix}`]: format(pair.refreshTokenExpiresAt),
    };
    return this.#json(200, successEnvelope(data), { 'Cache-Control': 'no-store' });
  }

  #cards(request: SandboxRequest): SandboxResponse {
    this.#counters.resourceRequests += 1;
    const token = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header(request.headers, 'authorization') ?? '')?.[1];
    const problem = token === undefined ? 'missing' : this.#tokens.problem(token, 'access', this.now());
    if (problem !== undefined) {
      this.#counters.resource401s += 1;
      // No token gets a bare challenge, a refused one an `invalid_token` challenge (RFC 6750 §3).
      const challenge = token === undefined ? 'Bearer' : 'Bearer error="invalid_token"';
      return this.#fail(401, ...TOKEN_PROBLEMS.access[problem], { 'WWW-Authenticate': challenge });
    }
    const claimedUser = header(request.headers, SANDBOX_USER_HEADER.toLowerCase())?.trim();
    if (!claimedUser || this.#tokens.get(token as string, 'access')?.userEmail === claimedUser) {
      return this.#json(200, successEnvelope(this.#options.cards));
    }
    this.#resourceUserMismatches += 1;
    const message = `The access token was not issued to the user named in ${SANDBOX_USER_HEADER}`;
    return this.#fail(403, SandboxErrorCodes.TOKEN_USER_MISMATCH, message);
  }

  #faultReply(fault: Exclude<SandboxFault, { type: 'delay' }>): SandboxReply {
    if (fault.type === 'reset') return { reset: true };
    // A malformed answer has a JSON answer's status and headers.
    if (fault.type === 'malformed') return { ...this.#json(200, null), bodyText: MALFORMED_BODY };
    if (fault.type === 'reject') {
      const message = fault.message ?? 'Rejected by the sandbox (injected fault)';
      return this.#fail(fault.status ?? 400, fault.errorCode, message);
    }
    const retryAfter: Record<string, string> =
      fault.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(Math.ceil(fault.retryAfterSeconds)) };
    return this.#fail(fault.status, fault.status, `Injected HTTP ${fault.status}`, retryAfter);
  }

  /** An `AlixFailureEnvelope`, in the page's property order, with this status (400: the call was refused). */
  #fail(status: number, errorCode: number, message: string, extra?: Record<string, string>): SandboxResponse {
    return this.#json(status, { success: false, message, data: null, errorCode }, extra);
  }

  #json(status: number, body: unknown, extra: Record<string, string> = {}): SandboxResponse {
    const headers = { 'Content-Type': 'application/json; charset=utf-8', Date: new Date(this.now()).toUTCString() };
    return { status, headers: { ...headers, ...extra }, bodyText: JSON.stringify(body) };
  }

  #emit(event: SandboxAuthCallEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A test's listener must not break the sandbox.
      }
    }
  }
}
