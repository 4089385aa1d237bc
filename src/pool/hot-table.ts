/**
 * What the pool's hot path reads, laid out for it: every session's "servable until" time and
 * access token in two dense arrays (the times unboxed, the tokens packed), found through a
 * dictionary of small integer slots. Over thousands of sessions a lookup then touches three
 * compact structures, instead of a session object (and its boxed number) somewhere in a heap
 * it shares with the sessions' managers.
 */
export class HotTable {
  /** Key → slot. A dictionary-mode object with no prototype: any key is just a key. */
  readonly slots: Record<string, number | undefined> = dictionary();
  /** Per slot, on the wall clock: until when its token may be handed out as it is (−∞: not at all). */
  readonly until: number[] = [];
  /** Per slot: the token handed out until then. */
  readonly tokens: Array<string | undefined> = [];
  readonly #free: number[] = [];

  /** Takes a slot for `key`, servable nothing until {@link HotTable.set}. */
  add(key: string): number {
    const slot = this.#free.pop() ?? this.until.length;
    this.set(slot, Number.NEGATIVE_INFINITY, undefined);
    this.slots[key] = slot;
    return slot;
  }

  /** Serves `token` from `slot` until `until` (wall clock); nothing without a token. */
  set(slot: number, until: number, token: string | undefined): void {
    this.until[slot] = token === undefined ? Number.NEGATIVE_INFINITY : until;
    this.tokens[slot] = token;
  }

  /** Frees `key`'s slot for reuse. */
  remove(key: string, slot: number): void {
    if (this.slots[key] === slot) delete this.slots[key];
    this.set(slot, Number.NEGATIVE_INFINITY, undefined);
    this.#free.push(slot);
  }
}

/** An empty object with no prototype, in dictionary mode from the start (it will hold thousands of keys). */
function dictionary<T>(): Record<string, T> {
  const object = Object.create(null) as Record<string, T>;
  object.seed = undefined as T;
  delete object.seed;
  return object;
}
