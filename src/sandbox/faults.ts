/**
 * Faults a test can inject into the next auth calls, and the queue that hands them out.
 */
import { assertConfig } from '../errors';

/** The two auth endpoints: sign-in (`access-token`) and `refresh-token`. */
export type SandboxAuthEndpoint = 'authenticate' | 'refresh';

/** Fields every fault may carry. */
export interface SandboxFaultTarget {
  /**
   * Only this endpoint's calls take the fault; the other endpoint answers normally.
   * @default both endpoints
   */
  endpoint?: SandboxAuthEndpoint;
  /**
   * Only this end user's auth calls take the fault: a sign-in whose body names this
   * `userEmail`, a refresh presenting a refresh token issued to this user (the same calls
   * `authCallsFor(userEmail)` counts). Other users' calls answer normally and leave it queued.
   * @default every user's calls, and calls that name none
   */
  userEmail?: string;
}

/** Answer with this HTTP status and a failure envelope whose `errorCode` is the status. */
export interface StatusFault extends SandboxFaultTarget {
  type: 'status';
  /** E.g. 500, 503 or 429. */
  status: number;
  /** Sent as the `Retry-After` header, in seconds. @default no header */
  retryAfterSeconds?: number;
}

/** Wait, then answer normally. */
export interface DelayFault extends SandboxFaultTarget {
  type: 'delay';
  /** How long to wait before answering, in ms. */
  ms: number;
}

/** Drop the connection without an answer (msw: `HttpResponse.error()`). */
export interface ResetFault extends SandboxFaultTarget {
  type: 'reset';
  /**
   * Process the request first (a refresh token is spent, tokens are issued), then drop the
   * answer: the "server did it but the client never heard" case.
   * @default false
   */
  afterProcessing?: boolean;
}

/** Answer 200 with a body that is not valid JSON. */
export interface MalformedFault extends SandboxFaultTarget {
  type: 'malformed';
  /** As for {@link ResetFault.afterProcessing}. @default false */
  afterProcessing?: boolean;
}

/** Answer `success: false` with this `errorCode`. */
export interface RejectFault extends SandboxFaultTarget {
  type: 'reject';
  errorCode: number;
  /** @default 'Rejected by the sandbox (injected fault)' */
  message?: string;
  /** An HTTP status from 200 to 599 (a 1xx would never end the call). @default 400 */
  status?: number;
}

/** A fault for `injectFaults()`. */
export type SandboxFault = StatusFault | DelayFault | ResetFault | MalformedFault | RejectFault;

/** The `type`s of {@link SandboxFault}. */
export type SandboxFaultType = SandboxFault['type'];

/**
 * The `userEmail` argument of a control method, checked to be a non-empty string when given.
 * @throws {ConfigurationError} `<method>(): userEmail must be a non-empty string`.
 */
export function checkUserEmail(method: string, userEmail: string | undefined): string | undefined {
  const valid = userEmail === undefined || (typeof userEmail === 'string' && userEmail !== '');
  assertConfig(valid, `${method}(): userEmail must be a non-empty string`);
  return userEmail;
}

const FAULT_TYPES: ReadonlySet<string> = new Set<SandboxFaultType>(['status', 'delay', 'reset', 'malformed', 'reject']);

const isDuration = (value: number): boolean => Number.isFinite(value) && value >= 0;

const isHttpStatus = (value: unknown, min: number): boolean =>
  Number.isInteger(value) && (value as number) >= min && (value as number) <= 599;

/** A queued fault and how many more calls it applies to (`Infinity`: every one until the queue is cleared). */
export type QueuedFault = { fault: SandboxFault; remaining: number };

/**
 * Queues the fault for the next `count` calls it applies to, behind any already queued. First in,
 * first out: each call takes the first queued fault aimed at it (see {@link takeFault}).
 * @throws {ConfigurationError} on a bad count or fault, queueing nothing.
 */
export function queueFault(queue: QueuedFault[], count: number, fault: SandboxFault): void {
  const validCount = count === Infinity || (Number.isInteger(count) && count >= 0);
  assertConfig(validCount, 'injectFaults(): count must be an integer >= 0, or Infinity');
  const types = [...FAULT_TYPES].join(', ');
  assertConfig(FAULT_TYPES.has(fault?.type), `injectFaults(): unknown fault type; expected one of ${types}`);
  const { type, endpoint } = fault;
  const validEndpoint = endpoint === undefined || endpoint === 'authenticate' || endpoint === 'refresh';
  assertConfig(validEndpoint, "injectFaults(): endpoint must be 'authenticate' or 'refresh'");
  checkUserEmail('injectFaults', fault.userEmail);
  const rules: Array<[boolean, string]> = [
    [type === 'status' && !isHttpStatus(fault.status, 400), 'a status fault needs an HTTP status from 400 to 599'],
    [type === 'status' && !isDuration(fault.retryAfterSeconds ?? 0), 'retryAfterSeconds must be finite and >= 0'],
    [type === 'delay' && !isDuration(fault.ms), 'a delay fault needs ms >= 0'],
    [type === 'reject' && !Number.isInteger(fault.errorCode), 'a reject fault needs an integer errorCode'],
    [type === 'reject' && !isHttpStatus(fault.status ?? 400, 200), 'a reject fault status must be 200 to 599'],
  ];
  for (const [broken, message] of rules) assertConfig(!broken, `injectFaults(): ${message}`);
  if (count > 0) queue.push({ fault: Object.freeze({ ...fault }), remaining: count });
}

/**
 * Takes one use of the first queued fault that applies to a call of `endpoint` for `userEmail`
 * (its endpoint, its user); a fault aimed elsewhere waits for its own calls.
 */
export function takeFault(queue: QueuedFault[], endpoint: SandboxAuthEndpoint, userEmail: string | undefined) {
  const index = queue.findIndex(
    ({ fault }) => (fault.endpoint ?? endpoint) === endpoint && (fault.userEmail ?? userEmail) === userEmail,
  );
  const entry = queue[index];
  if (entry === undefined) return undefined;
  entry.remaining -= 1;
  if (entry.remaining === 0) queue.splice(index, 1);
  return entry.fault;
}
