/** Factories for the pool tests: a fake provider per user, tokens that name their user. */
import { createHash } from 'node:crypto';
import { TokenManagerPool } from '../../src/pool/pool';
import type { TokenManagerPoolOptions } from '../../src/pool/options';
import { FakeProvider } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';

/** The identity a real provider would derive for `user` (hashed, like AlixAuthProvider's). */
export function identityOf(user: string): { id: string } {
  return { id: createHash('sha256').update(user).digest('hex').slice(0, 32) };
}

/** A pool whose users each get a FakeProvider issuing `<user>/access-<n>` on the fake clock. */
export function makePool(
  overrides: Partial<TokenManagerPoolOptions> = {},
  providerOptions: { accessTtlMs?: number; manual?: boolean } = {},
): { pool: TokenManagerPool; providers: Map<string, FakeProvider> } {
  const providers = new Map<string, FakeProvider>();
  const pool = new TokenManagerPool({
    now: () => Date.now(),
    refreshJitterMs: 0,
    retry: INSTANT_RETRY,
    // One provider per user for the pool's life (a session woken or re-created gets the same
    // one), so its counts and token numbers span all of the user's sessions.
    createProvider: (user) => {
      const provider =
        providers.get(user) ??
        new FakeProvider({
          now: () => Date.now(),
          prefix: tokenPrefix(user),
          identity: identityOf(user),
          ...providerOptions,
        });
      providers.set(user, provider);
      return provider;
    },
    ...overrides,
  });
  return { pool, providers };
}

/** `user-<i>@example.com`. */
export const user = (index: number): string => `user-${index}@example.com`;

/** The prefix of `user`'s tokens (a bearer token cannot carry '@'). */
export const tokenPrefix = (name: string): string => `${name.replace('@', '_at_')}/`;
