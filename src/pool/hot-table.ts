/**
 * What the pool's hot path reads, laid out for it: every session's "servable until" time and
 * access token in two dense arrays (the times unboxed, the tokens packed), found through a
 * dictionary of small integer slots. Over thousands of sessions a lookup then touches three
 * compact structures, instead of a session object (and its boxed number) somewhere in a heap
 * it shares with the sessions' managers.
 */
export class HotTable {
  /**
   * Key → slot. An object with no prototype (any key is just a key), which V8 keeps in dictionary
   * mode from its creation: fit for the thousands of keys it will hold.
   */
  readonly slots = Object.create(null) as Record<string, number | undefined>;
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
