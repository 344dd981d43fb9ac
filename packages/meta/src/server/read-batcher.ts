import { BasaltError, ErrorCode } from '@basalt/stdx';
import type { Waiter } from './pending.js';

interface Read<S> extends Waiter<unknown> {
  query(state: S): unknown;
}

/**
 * Linearizable reads by ReadIndex. Reads that arrive in one turn of the event loop share one
 * ReadIndex round (one heartbeat broadcast); a read waits for its round's index to be applied,
 * then runs on the state. A round must start after its reads arrived, so a read never joins a
 * round already in flight.
 */
export class ReadBatcher<S> {
  private queue: Read<S>[] = [];
  private flushScheduled = false;
  private nextCtx = 1;
  private readonly rounds = new Map<string, Read<S>[]>();
  private waiting: { index: number; reads: Read<S>[] }[] = [];

  constructor(
    /** Starts a round; returns an error when this member cannot (not the leader). */
    private readonly startRound: (ctx: Uint8Array) => BasaltError | undefined,
  ) {}

  get size(): number {
    let n = this.queue.length;
    for (const r of this.rounds.values()) n += r.length;
    for (const w of this.waiting) n += w.reads.length;
    return n;
  }

  read<T>(query: (state: S) => T, deadlineMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ query, resolve: (v) => resolve(v as T), reject, deadlineMs });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    });
  }

  /** The round `ctx` is confirmed at `index`. */
  onReadState(ctx: Uint8Array, index: number): void {
    const reads = this.rounds.get(key(ctx));
    if (reads === undefined) return;
    this.rounds.delete(key(ctx));
    this.waiting.push({ index, reads });
  }

  /** Runs every read whose index is applied. */
  serve(applied: number, state: S): void {
    if (this.waiting.length === 0) return;
    const ready = this.waiting.filter((w) => w.index <= applied);
    if (ready.length === 0) return;
    this.waiting = this.waiting.filter((w) => w.index > applied);
    for (const w of ready) for (const r of w.reads) run(r, state);
  }

  /** Leadership was lost: rounds in flight will never be confirmed here. */
  abortRounds(err: BasaltError): void {
    for (const reads of this.rounds.values()) for (const r of reads) r.reject(err);
    this.rounds.clear();
  }

  /** Called on every tick (20 times a second): builds its error only when a round expired. */
  expire(nowMs: number): void {
    for (const [k, reads] of this.rounds) {
      if (reads.every((r) => r.deadlineMs > nowMs)) continue;
      this.rounds.delete(k);
      const timeout = new BasaltError(ErrorCode.Timeout, 'read not confirmed by a quorum before the deadline');
      for (const r of reads) r.reject(timeout);
    }
  }

  rejectAll(err: BasaltError): void {
    for (const r of this.queue) r.reject(err);
    this.queue = [];
    this.abortRounds(err);
    for (const w of this.waiting) for (const r of w.reads) r.reject(err);
    this.waiting = [];
  }

  private flush(): void {
    this.flushScheduled = false;
    const reads = this.queue;
    this.queue = [];
    if (reads.length === 0) return;
    const ctx = ctxBytes(this.nextCtx++);
    const err = this.startRound(ctx);
    if (err !== undefined) {
      for (const r of reads) r.reject(err);
      return;
    }
    this.rounds.set(key(ctx), reads);
  }
}

function run<S>(r: Read<S>, state: S): void {
  try {
    r.resolve(r.query(state));
  } catch (err) {
    r.reject(err instanceof BasaltError ? err : new BasaltError(ErrorCode.Io, `read failed: ${String(err)}`));
  }
}

function ctxBytes(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, n);
  return out;
}

function key(ctx: Uint8Array): string {
  return Buffer.from(ctx).toString('hex');
}
