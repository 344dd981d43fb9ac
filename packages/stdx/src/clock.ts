/** Injected time, so code that needs "now" can be driven by a simulation. */
export interface Clock {
  /** Milliseconds on a monotonic clock. */
  nowMs(): number;
}

export const monotonicClock: Clock = {
  nowMs: () => performance.now(),
};

/** A clock a test moves by hand. */
export class ManualClock implements Clock {
  constructor(private ms = 0) {}
  nowMs(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** Timers as a seam: the process's own in production, the simulator's queue in packages/sim. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
