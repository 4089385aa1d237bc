import { TimerHeap } from '../../src/pool/heap';
import { HotTable } from '../../src/pool/hot-table';
import { PoolSession } from '../../src/pool/session';
import type { SessionHost } from '../../src/pool/session';
import { makeTokenSet } from '../helpers/fake-provider';
import { T0, minutes, useFakeClock } from '../helpers/manager';
import { makePool, user } from './support';

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

describe('PoolSession and its slot', () => {
  const hostWith = (hot: HotTable): SessionHost => ({
    heap: new TimerHeap({ now: () => 0, setTimeout: () => 0, clearTimeout: () => undefined }),
    hot,
    rest: () => undefined,
    renewIntervalMs: 1_000,
  });

  it('publishes the earlier of the refresh point and the next renewal, and nothing once it lost its slot', () => {
    const hot = new HotTable();
    const session = new PoolSession('jane@example.com', hostWith(hot), 0);
    session.enter();
    session.hold(makeTokenSet(0, { accessToken: 'jane-token' }), 60_000);
    expect([hot.until[session.slot], hot.tokens[session.slot]]).toEqual([1_000, 'jane-token']);
    session.renewed(59_500);
    expect(hot.until[session.slot]).toBe(60_000);
    // Forgotten by the pool (evicted): its slot goes to another session.
    const slot = session.slot;
    session.leave();
    const john = new PoolSession('john@example.com', hostWith(hot), 0);
    john.enter();
    expect(john.slot).toBe(slot);
    john.hold(makeTokenSet(0, { accessToken: 'john-token' }), 60_000);
    // Jane's manager, still closing, reports a token: it must not land in John's slot.
    session.hold(makeTokenSet(0, { accessToken: 'jane-token-2' }), 60_000);
    expect(hot.tokens[slot]).toBe('john-token');
  });
});

describe('the pool hot path after eviction', () => {
  beforeEach(() => useFakeClock(T0));
  afterEach(() => jest.useRealTimers());

  it('serves each user only their own token when slots are reused after deletes', async () => {
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
