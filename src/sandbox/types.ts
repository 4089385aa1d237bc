/**
 * The shapes shared by the sandbox core and its two front ends (node:http and msw).
 */
import type { SandboxAuthEndpoint, SandboxFault, SandboxFaultType } from './faults';

/** An HTTP request as the core sees it. */
export interface SandboxRequest {
  method: string;
  /** The path, e.g. `/api/v2/auth/refresh-token`; a query string is ignored. */
  path: string;
  /** Request headers; names in any case. */
  headers: Record<string, string | string[] | undefined>;
  bodyText: string;
}

/** An HTTP answer from the core. */
export interface SandboxResponse {
  status: number;
  headers: Record<string, string>;
  bodyText: string;
}

/** The core's instruction to drop the connection without answering. */
export type SandboxReset = { reset: true };

/** What {@link AlixSandboxCore.handle} resolves to. */
export type SandboxReply = SandboxResponse | SandboxReset;

/** Request counts since start or the last `resetCounters()`. */
export interface SandboxCounters {
  /** Sign-in calls (`POST /api/v2/auth/access-token`), whatever their outcome. */
  authenticate: number;
  /** Refresh calls (`POST /api/v2/auth/refresh-token`), whatever their outcome. */
  refresh: number;
  /** Auth calls that did not succeed: rejections and injected faults (not delays). */
  authFailures: number;
  /** Calls to `GET /api/v2/cards`. */
  resourceRequests: number;
  /** Of those, the ones answered 401. */
  resource401s: number;
  /** Every request the sandbox received, any route. */
  requests: number;
}

/** Auth calls made for one end user (or for none), since start or the last `resetCounters()`. */
export interface SandboxUserAuthCalls {
  /** Signed sign-in calls whose body named this user as `userEmail`, whatever their outcome (unsigned: no user). */
  authenticate: number;
  /** Refresh calls presenting a refresh token issued to this user, whatever their outcome. */
  refresh: number;
}

/** The per-user counts, since start or the last `resetCounters()`. */
export interface SandboxUserCounters {
  /**
   * Auth calls by end user, in the order the users were first seen. Calls that named no user
   * (a sign-in without `userEmail`, a refresh token the sandbox never issued or issued to no
   * user) are left out: read them with `authCallsFor()`.
   */
  byUser: Map<string, SandboxUserAuthCalls>;
  /**
   * `GET /api/v2/cards` requests answered 403 (errorCode 44) because the bearer token belongs
   * to another user, or to none, than the one the `X-Alix-User` header names.
   */
  resourceUserMismatches: number;
}

/** Reported to `onAuthCall` listeners after each auth call. No tokens or signatures. */
export interface SandboxAuthCallEvent {
  endpoint: SandboxAuthEndpoint;
  /** `fault` when an injected fault (other than a delay) decided the answer. */
  outcome: 'success' | 'rejected' | 'fault';
  /** HTTP status sent; `undefined` when the connection was dropped. */
  status: number | undefined;
  /** The envelope's `errorCode`, when one was sent. */
  errorCode: number | undefined;
  /** The injected fault's type, when one applied (delays included). */
  fault: SandboxFaultType | undefined;
  /** Sandbox time of the answer, epoch ms. */
  at: number;
}

/** A listener for {@link SandboxAuthCallEvent}s; what it throws is ignored. */
export type SandboxAuthCallListener = (event: SandboxAuthCallEvent) => void;

/** The test-control surface shared by the core, the server and the msw handlers. */
export interface AlixSandboxControl {
  /** Sandbox time, epoch ms: the `now` option plus every `shiftClock()`. */
  now(): number;
  /** Moves sandbox time by `ms` (may be negative); cumulative. */
  shiftClock(ms: number): void;
  /**
   * Every access token issued so far (to `userEmail` only, when given) answers 401 from now on.
   * @throws {TypeError} when `userEmail` is given and is not a non-empty string.
   */
  revokeAccessTokens(userEmail?: string): void;
  /**
   * Every refresh token issued so far (to `userEmail` only, when given) is rejected
   * (errorCode 35) from now on.
   * @throws {TypeError} when `userEmail` is given and is not a non-empty string.
   */
  revokeRefreshTokens(userEmail?: string): void;
  /**
   * The next `count` auth calls the fault applies to (of `fault.endpoint` and for
   * `fault.userEmail`, when given) get this fault; `Infinity` means every such call until
   * `clearFaults()`.
   * @throws {RangeError} when `count` is not an integer >= 0 or `Infinity`, or a fault's
   *   number is out of range.
   * @throws {TypeError} on an unknown fault type, endpoint, or a `userEmail` that is not a
   *   non-empty string.
   */
  injectFaults(count: number, fault: SandboxFault): void;
  /** Drops faults not yet used, lasting ones (`Infinity`) too. */
  clearFaults(): void;
  /** How many faulted calls are still to come: `Infinity` while a lasting fault is queued, 0 when none. */
  pendingFaults(): number;
  /** A snapshot of the counters. */
  counters(): SandboxCounters;
  /** Sets every counter to 0, the per-user ones too. */
  resetCounters(): void;
  /**
   * The auth calls made for one end user: sign-ins whose body named `userEmail`, refreshes
   * presenting a refresh token issued to that user. Without an argument: the calls that named
   * no user. Zeros for a user never seen.
   */
  authCallsFor(userEmail?: string): SandboxUserAuthCalls;
  /** A snapshot of the per-user counts: auth calls by user and resource requests refused for the wrong user. */
  userCounters(): SandboxUserCounters;
  /** Adds a listener for auth calls; returns its remover. */
  onAuthCall(listener: SandboxAuthCallListener): () => void;
}
