import type { ProviderIdentity, TokenProvider } from '../../src/providers/types';
import type { TokenSet } from '../../src/token-set';

/** One scripted answer: a failure to throw, or undefined to issue tokens normally. */
export type ScriptedOutcome = Error | ((call: ProviderCall) => TokenSet) | undefined;

/** What a provider call received. */
export interface ProviderCall {
  kind: 'authenticate' | 'refresh';
  refreshToken?: string;
  signal?: AbortSignal;
}

/** Options of {@link FakeProvider}. */
export interface FakeProviderOptions {
  now: () => number;
  accessTtlMs?: number;
  refreshTtlMs?: number;
  /** Delay each call until the test releases it with {@link FakeProvider.release}. */
  manual?: boolean;
  /** The provider's identity (none by default, like a provider that does not declare one). */
  identity?: ProviderIdentity;
  /** Prefix of the issued tokens. @default '' */
  prefix?: string;
}

/**
 * A TokenProvider that issues numbered tokens on the given clock, records every call and
 * can be scripted to fail: the unit tests' stand-in for the auth server.
 */
export class FakeProvider implements TokenProvider {
  readonly calls: ProviderCall[] = [];
  readonly script: ScriptedOutcome[] = [];
  readonly usedRefreshTokens: string[] = [];
  #serial = 0;
  #pending: Array<() => void> = [];

  constructor(readonly options: FakeProviderOptions) {}

  get identity(): ProviderIdentity | undefined {
    return this.options.identity;
  }

  get authenticateCount(): number {
    return this.calls.filter((call) => call.kind === 'authenticate').length;
  }

  get refreshCount(): number {
    return this.calls.filter((call) => call.kind === 'refresh').length;
  }

  /** Calls held back in manual mode now. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Releases calls held back in manual mode. */
  release(): void {
    const pending = this.#pending;
    this.#pending = [];
    for (const resolve of pending) resolve();
  }

  authenticate(signal?: AbortSignal): Promise<TokenSet> {
    return this.#answer({ kind: 'authenticate', signal });
  }

  refresh(refreshToken: string, signal?: AbortSignal): Promise<TokenSet> {
    this.usedRefreshTokens.push(refreshToken);
    return this.#answer({ kind: 'refresh', refreshToken, signal });
  }

  /** The token set the next successful call will return (without consuming it). */
  issue(): TokenSet {
    this.#serial += 1;
    const now = this.options.now();
    return {
      accessToken: `${this.options.prefix ?? ''}access-${this.#serial}`,
      accessTokenExpiresAt: now + (this.options.accessTtlMs ?? 15 * 60_000),
      refreshToken: `${this.options.prefix ?? ''}refresh-${this.#serial}`,
      refreshTokenExpiresAt: now + (this.options.refreshTtlMs ?? 180 * 24 * 60 * 60_000),
    };
  }

  async #answer(call: ProviderCall): Promise<TokenSet> {
    this.calls.push(call);
    const outcome = this.script.shift();
    if (this.options.manual === true) {
      await new Promise<void>((resolve, reject) => {
        this.#pending.push(resolve);
        call.signal?.addEventListener('abort', () => reject(call.signal?.reason), { once: true });
      });
    }
    if (outcome instanceof Error) throw outcome;
    if (typeof outcome === 'function') return outcome(call);
    return this.issue();
  }
}

/** A token set expiring `expiresInMs` from `now`. */
export function makeTokenSet(now: number, overrides: Partial<TokenSet> & { expiresInMs?: number } = {}): TokenSet {
  const { expiresInMs = 15 * 60_000, ...rest } = overrides;
  return {
    accessToken: 'seed-access',
    accessTokenExpiresAt: now + expiresInMs,
    refreshToken: 'seed-refresh',
    refreshTokenExpiresAt: now + 180 * 24 * 60 * 60_000,
    ...rest,
  };
}

/** Lets queued promise callbacks run (several rounds, for chains of awaits). */
export async function flushPromises(rounds = 20): Promise<void> {
  for (let index = 0; index < rounds; index += 1) await Promise.resolve();
}

/**
 * Lets queued promise callbacks run until `done()` holds, failing after `maxRounds`: unlike a
 * fixed number of rounds, it does not depend on how many awaits the code under test has.
 */
export async function flushUntil(done: () => boolean, maxRounds = 10_000): Promise<void> {
  for (let round = 0; round < maxRounds; round += 1) {
    if (done()) return;
    await Promise.resolve();
  }
  throw new Error(`condition not reached after ${maxRounds} microtask rounds`);
}
