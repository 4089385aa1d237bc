import { TokenManagerClosedError } from '../../src/errors';
import { HotTable } from '../../src/pool/hot-table';
import { flushUntil } from '../helpers/fake-provider';
import type { FakeProvider } from '../helpers/fake-provider';
import { T0, minutes, useFakeClock } from '../helpers/manager';
import { makePool, tokenPrefix, user } from './support';

describe('HotTable', () => {
  it('finds a key’s slot, serves its token until the time set, and forgets the key on remove', () => {
    const table = new HotTable();
    const slot = table.add('jane@example.com');
    expect(table.slots['jane@example.com']).toBe(slot);
    expect(table.until[slot]).toBe(Number.NEGATIVE_INFINITY);
    table.set(slot, 1_000, 'token-a');
    expect([table.until[slot], table.tokens[slot]]).toEqual([1_000, 'token-a']);
    table.remove('jane@example.com', slot);
    expect(table.slots['jane@example.com']).toBeUndefined();
    expect([table.until[slot], table.tokens[slot]]).toEqual([Number.NEGATIVE_INFINITY, undefined]);
  });

  it('never marks a slot without a token as servable', () => {
    const table = new HotTable();
    const slot = table.add('jane@example.com');
    table.set(slot, 1_000, undefined);
    expect(table.until[slot]).toBe(Number.NEGATIVE_INFINITY);
  });

  it('reuses a freed slot for the next key, and an old key’s remove never frees the new owner’s entry', () => {
    const table = new HotTable();
    const first = table.add('a@example.com');
    table.remove('a@example.com', first);
    const second = table.add('b@example.com');
    expect(second).toBe(first);
    table.remove('a@example.com', first);
    expect(table.slots['b@example.com']).toBe(second);
  });

  it('treats keys like __proto__ and constructor as plain keys', () => {
    const table = new HotTable();
    expect(table.slots['__proto__']).toBeUndefined();
    expect(table.slots['constructor']).toBeUndefined();
    const slot = table.add('__proto__');
    expect(table.slots['__proto__']).toBe(slot);
  });
});

describe('the pool hot path', () => {
  beforeEach(() => useFakeClock(T0));
  afterEach(() => jest.useRealTimers());

  it('serves a use within a second of the last renewal as is; one a second later renews the idle TTL', async () => {
    for (const [usedAt, held] of [
      [999, false],
      [1_000, true],
    ] as const) {
      jest.setSystemTime(T0);
      const { pool, providers } = makePool({ idleTtlMs: 10_000 });
      await pool.getAccessToken(user(1));
      jest.advanceTimersByTime(usedAt);
      await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-1`);
      jest.advanceTimersByTime(10_001 - usedAt);
      expect(pool.has(user(1))).toBe(held);
      expect(providers.get(user(1))?.calls).toHaveLength(1);
      pool.close();
    }
  });

  it("answers a held token without the session's manager; never a tokenless, deleted or other key's entry", async () => {
    const { pool } = makePool();
    const [jane, john] = ['__proto__', 'constructor'].map((key) => jest.spyOn(pool.get(key), 'getAccessToken'));
    // No token yet: the manager is asked; then the token is answered from the hot path.
    for (let call = 0; call < 2; call += 1) {
      await expect(pool.getAccessToken('__proto__')).resolves.toBe(`${tokenPrefix('__proto__')}access-1`);
      await expect(pool.getAccessToken('constructor')).resolves.toBe(`${tokenPrefix('constructor')}access-1`);
    }
    expect([jane?.mock.calls.length, john?.mock.calls.length]).toEqual([1, 1]);
    // Deleted, then created again: the new session's manager is asked, the old entry is gone.
    pool.delete('__proto__');
    const again = jest.spyOn(pool.get('__proto__'), 'getAccessToken');
    await pool.getAccessToken('__proto__');
    expect([jane?.mock.calls.length, again.mock.calls.length]).toEqual([1, 1]);
    // Another key's delete never touches this one's entry.
    await expect(pool.getAccessToken('constructor')).resolves.toBe(`${tokenPrefix('constructor')}access-1`);
    expect(john?.mock.calls.length).toBe(1);
    pool.close();
  });

  it("hands the call to the session's manager at its refresh point exactly", async () => {
    const { pool, providers } = makePool({ refreshBeforeExpiryMs: minutes(5) });
    await pool.getAccessToken(user(1));
    const provider = providers.get(user(1)) as FakeProvider;
    // setSystemTime moves the clock without running the refresh timer: only calls can start a refresh.
    jest.setSystemTime(T0 + minutes(10) - 500);
    await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-1`);
    jest.setSystemTime(T0 + minutes(10) - 1);
    await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-1`);
    expect(provider.refreshCount).toBe(0);
    jest.setSystemTime(T0 + minutes(10));
    await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-1`);
    await flushUntil(() => pool.status().refreshCount === 2);
    expect(provider.refreshCount).toBe(1);
    await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-2`);
    pool.close();
  });

  it('never serves a session without a token: a new one signs in, a rejected token is replaced first', async () => {
    const { pool, providers } = makePool();
    pool.get(user(1));
    await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-1`);
    expect(providers.get(user(1))?.authenticateCount).toBe(1);
    expect(pool.invalidate(user(1), `${tokenPrefix(user(1))}access-1`)).toBe('refreshing');
    await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-2`);
    pool.close();
  });

  it("forgets a deleted key: its next use is a new session, never the deleted one's entry", async () => {
    const { pool, providers } = makePool();
    const first = pool.get(user(1));
    await pool.getAccessToken(user(1));
    expect(pool.delete(user(1))).toBe(true);
    expect(pool.has(user(1))).toBe(false);
    await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-1`); // adopted
    expect(pool.has(user(1))).toBe(true);
    expect(pool.get(user(1))).not.toBe(first);
    expect(providers.get(user(1))?.calls).toHaveLength(1);
    pool.close();
  });

  it("never lets a deleted session's sign-in reach another user's session", async () => {
    const { pool, providers } = makePool({}, { manual: true });
    const jane = pool.getAccessToken(user(1));
    await flushUntil(() => providers.get(user(1))?.pendingCount === 1);
    pool.delete(user(1));
    await expect(jane).rejects.toBeInstanceOf(TokenManagerClosedError);
    const john = pool.getAccessToken(user(2));
    await flushUntil(() => providers.get(user(2))?.pendingCount === 1);
    providers.get(user(1))?.release();
    providers.get(user(2))?.release();
    await expect(john).resolves.toBe(`${tokenPrefix(user(2))}access-1`);
    await expect(pool.getAccessToken(user(2))).resolves.toBe(`${tokenPrefix(user(2))}access-1`);
    const again = pool.getAccessToken(user(1));
    await flushUntil(() => providers.get(user(1))?.pendingCount === 1);
    providers.get(user(1))?.release();
    await expect(again).resolves.toMatch(new RegExp(`^${tokenPrefix(user(1))}access-`));
    pool.close();
  });

  it('serves each user only their own token when sessions come and go', async () => {
    const { pool } = makePool();
    for (let round = 0; round < 3; round += 1) {
      const tokens = await Promise.all([0, 1, 2, 3].map((index) => pool.getAccessToken(user(index + round * 4))));
      tokens.forEach((token, index) =>
        expect(token.startsWith(user(index + round * 4).replace('@', '_at_'))).toBe(true),
      );
      for (const index of [0, 2]) pool.delete(user(index + round * 4));
      jest.advanceTimersByTime(minutes(0.5));
    }
    for (let index = 0; index < 12; index += 1) {
      const token = await pool.getAccessToken(user(index));
      expect(token.startsWith(user(index).replace('@', '_at_'))).toBe(true);
    }
    pool.close();
  });
});
