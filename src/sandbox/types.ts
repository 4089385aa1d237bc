/**
 * The shapes shared by the sandbox core and its two front ends (node:http and msw).
 */
import type { SandboxAuthEndpoint, SandboxFaultType } from './faults';

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

/**
 * Auth calls made for one end user (or for none), since start or the last `resetCounters()`:
 * `authenticate`, signed sign-in calls whose body named this user as `userEmail`, whatever their
 * outcome (unsigned: no user); `refresh`, refresh calls presenting a refresh token issued to this
 * user, whatever their outcome.
 */
export type SandboxUserAuthCalls = Pick<SandboxCounters, 'authenticate' | 'refresh'>;

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
