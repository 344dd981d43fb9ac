import { assert } from '@basalt/stdx';

/**
 * The MsgApp messages sent to one follower and not yet acknowledged, by the last index
 * each carried. Bounded by `capacity` (Config.maxInflightMsgs). Invariant: indexes ascend.
 */
export class Inflights {
  private indexes: number[] = [];

  constructor(readonly capacity: number) {
    assert(capacity >= 1, `inflight capacity must be >= 1, got ${capacity}`);
  }

  add(lastIndex: number): void {
    assert(!this.full(), 'inflights full: the caller must check full() first');
    const last = this.indexes[this.indexes.length - 1];
    assert(last === undefined || lastIndex >= last, `inflight ${lastIndex} below previous ${last}`);
    this.indexes.push(lastIndex);
  }

  /** Frees every message whose last index is <= `index` (the follower acknowledged them). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.indexes.length && (this.indexes[n] as number) <= index) n++;
    if (n > 0) this.indexes = this.indexes.slice(n);
  }

  full(): boolean {
    return this.indexes.length >= this.capacity;
  }

  count(): number {
    return this.indexes.length;
  }

  reset(): void {
    this.indexes = [];
  }
}
