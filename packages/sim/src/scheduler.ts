import { createHash, type Hash } from 'node:crypto';
import type { Clock, Timers } from '@basalt/stdx';
import { EventQueue } from '@basalt/raft/testing';

/**
 * The simulation's only source of asynchrony: a queue of timed events (network deliveries, timer
 * firings, fault steps). run() pops one event at a time, sets the clock to its time, runs it,
 * and then lets every promise job it started finish (one setImmediate: Node runs all microtasks
 * first) before the next event. Production code under simulation never sees a real timer or
 * socket, so the order of everything it does depends on the seed alone.
 *
 * Each event carries a label; their sequence (with the times) is hashed into `traceHash`: the
 * same seed must give the same hash (scheduler.test.ts, cluster-sim.test.ts).
 */
/**
 * A livelock (an event that keeps rescheduling itself with no delay) would otherwise spin run()
 * forever without moving the clock; far above what a real instant holds (hundreds of events).
 */
const eventsPerInstantMax = 1_000_000;

interface Event {
  readonly label: string;
  readonly fn: () => void;
  cancelled: boolean;
}

export class Scheduler implements Clock, Timers {
  private now = 0;
  private readonly queue = new EventQueue<Event>();
  private readonly hash: Hash = createHash('sha256');
  steps = 0;
  /** Events run at the current instant so far: time must move on (see eventsPerInstantMax). */
  private atInstant = 0;

  constructor(private readonly onTrace?: (line: string) => void) {}

  nowMs(): number {
    return this.now;
  }

  /** Runs fn at now + ms (whole milliseconds, never in the past). */
  at(ms: number, label: string, fn: () => void): Event {
    const ev: Event = { label, fn, cancelled: false };
    this.queue.push(this.now + Math.max(0, Math.ceil(ms)), ev);
    return ev;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    return this.at(ms, 'timer', fn);
  }

  clearTimeout(handle: unknown): void {
    if (handle !== undefined) (handle as Event).cancelled = true;
  }

  /** Adds a line to the trace (and its hash) without an event: what the checkers saw. */
  note(line: string): void {
    this.hash.update(`${this.now} ${line}\n`);
    this.onTrace?.(`${this.now} ${line}`);
  }

  /** Runs events up to the time untilMs, or until `stop` says so (checked between events). */
  async run(untilMs: number, stop: () => boolean = () => false): Promise<void> {
    await settle(); // what the caller started before this call first
    const end = this.at(untilMs - this.now, 'run ends', () => undefined);
    for (;;) {
      if (stop()) {
        end.cancelled = true;
        return;
      }
      const next = this.queue.pop();
      if (next === undefined) return;
      this.atInstant = next.time === this.now ? this.atInstant + 1 : 0;
      this.now = next.time;
      if (next.item === end) return;
      if (next.item.cancelled) continue;
      if (this.atInstant > eventsPerInstantMax) throw new Error(`simulated time stopped at ${this.now} ms: over ${eventsPerInstantMax} events at this instant (the last: ${next.item.label}); something reschedules itself with no delay`);
      this.steps++;
      this.note(next.item.label);
      next.item.fn();
      await settle();
    }
  }

  traceHash(): string {
    return this.hash.copy().digest('hex').slice(0, 16);
  }
}

/** Resolves after every promise job queued so far (and those they queue) ran. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
