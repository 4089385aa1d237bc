/**
 * Faults a test can inject into the next auth calls, and the queue that hands them out.
 */

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
 * @throws {TypeError} `<method>(): userEmail must be a non-empty string`.
 */
export function checkUserEmail(method: string, userEmail: string | undefined): string | undefined {
  if (userEmail !== undefined && (typeof userEmail !== 'string' || userEmail === '')) {
    throw new TypeError(`${method}(): userEmail must be a non-empty string`);
  }
  return userEmail;
}

const FAULT_TYPES: ReadonlySet<string> = new Set<SandboxFaultType>(['status', 'delay', 'reset', 'malformed', 'reject']);

const isDuration = (value: number): boolean => Number.isFinite(value) && value >= 0;

const isHttpStatus = (value: unknown, min: number): boolean =>
  Number.isInteger(value) && (value as number) >= min && (value as number) <= 599;

function checkFault(fault: SandboxFault): void {
  if (typeof fault !== 'object' || fault === null || !FAULT_TYPES.has(fault.type)) {
    throw new TypeError(`injectFaults(): unknown fault type; expected one of ${[...FAULT_TYPES].join(', ')}`);
  }
  if (fault.endpoint !== undefined && fault.endpoint !== 'authenticate' && fault.endpoint !== 'refresh') {
    throw new TypeError("injectFaults(): endpoint must be 'authenticate' or 'refresh'");
  }
  checkUserEmail('injectFaults', fault.userEmail);
  const { type } = fault;
  const rangeRules: Array<[boolean, string]> = [
    [type === 'status' && !isHttpStatus(fault.status, 400), 'a status fault needs an HTTP status from 400 to 599'],
    [type === 'status' && !isDuration(fault.retryAfterSeconds ?? 0), 'retryAfterSeconds must be finite and >= 0'],
    [type === 'delay' && !isDuration(fault.ms), 'a delay fault needs ms >= 0'],
    [type === 'reject' && !Number.isInteger(fault.errorCode), 'a reject fault needs an integer errorCode'],
    [type === 'reject' && !isHttpStatus(fault.status ?? 400, 200), 'a reject fault status must be 200 to 599'],
  ];
  const broken = rangeRules.find(([bad]) => bad);
  if (broken !== undefined) throw new RangeError(`injectFaults(): ${broken[1]}`);
}

/** A queued fault and how many more calls it applies to (`Infinity`: every one until the queue is cleared). */
export type QueuedFault = { fault: SandboxFault; remaining: number };

/**
 * Queues the fault for the next `count` calls it applies to, behind any already queued. First in,
 * first out: each call takes the first queued fault aimed at it (see {@link takeFault}).
 */
export function queueFault(queue: QueuedFault[], count: number, fault: SandboxFault): void {
  if (count !== Infinity && !(Number.isInteger(count) && count >= 0)) {
    throw new RangeError('injectFaults(): count must be an integer >= 0, or Infinity');
  }
  checkFault(fault);
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
