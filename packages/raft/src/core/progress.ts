import { assert } from '@basalt/stdx';
import { Inflights } from './inflights.js';
import type { ProgressState, ProgressStatus } from './types.js';

/**
 * The leader's view of one follower (etcd's tracker.Progress).
 * - probe: the leader does not know where the logs match; it sends one MsgApp per
 *   heartbeat interval and walks `next` back on rejections.
 * - replicate: the logs match up to `match`; the leader streams entries optimistically,
 *   at most `maxInflightMsgs` messages ahead.
 * - snapshot: the follower needs a snapshot at `pendingSnapshot`; appends pause until it
 *   is acknowledged (or reported failed, or stalls for an election timeout).
 * Invariant: match < next.
 */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  pendingSnapshot = 0;
  /** Heard from this follower since the last check-quorum round. */
  recentActive = false;
  /** Probe state: one MsgApp was sent this heartbeat interval. */
  probeSent = false;
  /** Match when the previous heartbeat response arrived (stall detection). */
  matchAtHeartbeat = 0;
  /** Snapshot state: heartbeat responses received since the snapshot was sent. */
  snapshotHeartbeats = 0;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number, public isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  becomeProbe(): void {
    // After a snapshot, probe from just past it; otherwise from just past what matches.
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.reset('probe');
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.reset('replicate');
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.reset('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** The follower acknowledged entries up to `n`. Returns false for a stale acknowledgement. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Replicate state: entries up to `lastIndex` were just sent. */
  sentEntries(lastIndex: number, count: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    } else {
      assert(false, `sent entries to a follower in state ${this.state}`);
    }
  }

  /**
   * The follower rejected MsgApp at `rejected`, hinting `matchHint`. Returns false if the
   * rejection is stale (answers an older probe).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      // Stale unless it rejects exactly what we know is past match.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // Probe: only the rejection of next - 1 is current.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  status(): ProgressStatus {
    return {
      match: this.match,
      next: this.next,
      state: this.state,
      recentActive: this.recentActive,
      inflight: this.inflights.count(),
      isLearner: this.isLearner,
    };
  }

  private reset(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotHeartbeats = 0;
    this.state = state;
    this.inflights.reset();
  }
}
