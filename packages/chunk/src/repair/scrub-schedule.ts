import { assert } from '@basalt/stdx';

/**
 * When the scrubber checks what (pure: time is an argument). A pass visits every extent held
 * when it starts, one at a time, in the order given; extents removed meanwhile are skipped
 * (the caller says so by not holding them). A pass starts `intervalMs` after the previous one
 * started, or at once when that one took longer; the scrubber's pace within a pass is the
 * byte budget's business, not this schedule's. `lastPassFinishedMs` is what heartbeats report.
 */
export type ScrubStep = { readonly kind: 'scrub'; readonly key: string } | { readonly kind: 'wait'; readonly untilMs: number };

export class ScrubSchedule {
  private queue: string[] = [];
  /** Start of the pass running now (undefined: between passes). */
  private passStartedMs: number | undefined;
  /** Start of the last complete pass. */
  private lastStartedMs: number | undefined;
  /** When the last complete pass ended (undefined: none yet). */
  lastPassFinishedMs: number | undefined;
  /** Passes completed. */
  passes = 0;

  constructor(
    readonly intervalMs: number,
    private readonly firstPassAtMs: number,
  ) {
    assert(Number.isSafeInteger(intervalMs) && intervalMs > 0, `scrub interval must be a positive number of ms, got ${intervalMs}`);
  }

  /** The next thing to do at nowMs, given the extents held now (keys, in scrub order). */
  next(nowMs: number, held: readonly string[]): ScrubStep {
    if (this.passStartedMs === undefined) {
      const startAt = this.lastPassStartTarget();
      if (nowMs < startAt) return { kind: 'wait', untilMs: startAt };
      this.passStartedMs = nowMs;
      this.queue = [...held].reverse();
    }
    const stillHeld = new Set(held);
    for (let key = this.queue.pop(); key !== undefined; key = this.queue.pop()) {
      if (stillHeld.has(key)) return { kind: 'scrub', key };
    }
    this.finishPass(nowMs);
    return this.next(nowMs, held);
  }

  private finishPass(nowMs: number): void {
    this.lastPassFinishedMs = nowMs;
    this.passes++;
    this.lastStartedMs = this.passStartedMs;
    this.passStartedMs = undefined;
  }

  private lastPassStartTarget(): number {
    return this.lastStartedMs === undefined ? this.firstPassAtMs : this.lastStartedMs + this.intervalMs;
  }
}
