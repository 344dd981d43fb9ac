import { assert } from '@basalt/stdx';

interface Slot<T> {
  readonly time: number;
  readonly seq: number;
  readonly item: T;
}

/**
 * A min-heap of timed items for the simulation's scheduler. Ties in time are
 * broken by insertion order, so a run depends only on its seed.
 */
export class EventQueue<T> {
  private readonly heap: Slot<T>[] = [];
  private seq = 0;

  push(time: number, item: T): void {
    assert(Number.isSafeInteger(time) && time >= 0, `event time must be a non-negative integer, got ${time}`);
    this.heap.push({ time, seq: this.seq++, item });
    this.siftUp(this.heap.length - 1);
  }

  pop(): { time: number; item: T } | undefined {
    const top = this.heap[0];
    if (top === undefined) return undefined;
    const last = this.heap.pop() as Slot<T>;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    return { time: top.time, item: top.item };
  }

  private less(i: number, j: number): boolean {
    const a = this.heap[i] as Slot<T>;
    const b = this.heap[j] as Slot<T>;
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private swap(i: number, j: number): void {
    const t = this.heap[i] as Slot<T>;
    this.heap[i] = this.heap[j] as Slot<T>;
    this.heap[j] = t;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.heap.length && this.less(l, m)) m = l;
      if (r < this.heap.length && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
