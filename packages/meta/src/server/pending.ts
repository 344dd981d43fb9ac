import { BasaltError, ErrorCode } from '@basalt/stdx';

/** A caller waiting for something the Raft loop will deliver, with a deadline (monotonic ms). */
export interface Waiter<T> {
  resolve(value: T): void;
  reject(err: BasaltError): void;
  deadlineMs: number;
}

/** Proposals waiting to be applied, keyed by the log index Raft gave them. */
export class PendingProposals<T> {
  private readonly byIndex = new Map<number, Waiter<T> & { term: number; startedMs: number }>();

  get size(): number {
    return this.byIndex.size;
  }

  add(index: number, term: number, waiter: Waiter<T>, nowMs: number): void {
    this.byIndex.set(index, { ...waiter, term, startedMs: nowMs });
  }

  /**
   * The entry at `index` with `term` was applied with `result`. A proposal at that index with
   * another term was overwritten by a newer leader: it can never commit, so it is safe to retry.
   * Returns the proposal's start time when it succeeded (for the latency histogram).
   */
  applied(index: number, term: number, result: T, leaderHint: () => BasaltError): number | undefined {
    const p = this.byIndex.get(index);
    if (p === undefined) return undefined;
    this.byIndex.delete(index);
    if (p.term !== term) {
      p.reject(leaderHint());
      return undefined;
    }
    p.resolve(result);
    return p.startedMs;
  }

  /** Proposals at or below `index` whose fate a snapshot hides: their outcome is unknown. */
  coveredBySnapshot(index: number): void {
    for (const [i, p] of this.byIndex) {
      if (i > index) continue;
      this.byIndex.delete(i);
      p.reject(unknownOutcome('a snapshot replaced the log before the proposal was seen applied'));
    }
  }

  expire(nowMs: number): void {
    for (const [i, p] of this.byIndex) {
      if (p.deadlineMs > nowMs) continue;
      this.byIndex.delete(i);
      p.reject(unknownOutcome('the proposal was not applied before the deadline'));
    }
  }

  rejectAll(err: BasaltError): void {
    for (const p of this.byIndex.values()) p.reject(err);
    this.byIndex.clear();
  }
}

/** The request may or may not take effect: the caller must check before retrying a mutation. */
export function unknownOutcome(why: string): BasaltError {
  return new BasaltError(ErrorCode.Timeout, `outcome unknown: ${why}`, { outcome: 'unknown' });
}
