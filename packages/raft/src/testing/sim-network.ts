import { assert, type Prng } from '@basalt/stdx';
import type { NodeId } from '../core/types.js';

/**
 * The simulated network's fault model: each message is dropped with
 * `dropRate`, else delivered after a uniform delay in [delayMin, delayMax]
 * time units (different delays reorder messages), and duplicated with
 * `duplicateRate` (the copy takes its own delay). Links can be cut in one
 * direction or both; a cut link drops what it carries, including messages
 * already in flight when they arrive.
 */
export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  delayMin: number;
  delayMax: number;
}

export const calmNetwork: NetworkFaults = { dropRate: 0, duplicateRate: 0, delayMin: 1, delayMax: 5 };

export class SimNetwork {
  private readonly cut = new Set<string>();
  faults: NetworkFaults;
  dropped = 0;
  duplicated = 0;

  constructor(private readonly prng: Prng, faults: NetworkFaults) {
    this.faults = faults;
    validate(faults);
  }

  setFaults(faults: NetworkFaults): void {
    validate(faults);
    this.faults = faults;
  }

  /** The times at which copies of a message sent at `now` arrive (none if dropped). */
  deliveryTimes(now: number): number[] {
    const { dropRate, duplicateRate, delayMin, delayMax } = this.faults;
    if (this.prng.chance(dropRate)) {
      this.dropped++;
      return [];
    }
    const times = [now + this.prng.int(delayMin, delayMax)];
    if (this.prng.chance(duplicateRate)) {
      this.duplicated++;
      times.push(now + this.prng.int(delayMin, delayMax));
    }
    return times;
  }

  /** False when the link from -> to is cut; the message is then lost. */
  canDeliver(from: NodeId, to: NodeId): boolean {
    if (!this.cut.has(link(from, to))) return true;
    this.dropped++;
    return false;
  }

  /** True when the link from -> to is cut (nothing is counted as dropped). */
  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(link(from, to));
  }

  cutOneWay(from: NodeId, to: NodeId): void {
    this.cut.add(link(from, to));
  }

  /** Cuts every link between the two sides, both ways. */
  split(sideA: readonly NodeId[], sideB: readonly NodeId[]): void {
    for (const a of sideA) {
      for (const b of sideB) {
        this.cutOneWay(a, b);
        this.cutOneWay(b, a);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  get cutLinks(): number {
    return this.cut.size;
  }
}

function link(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}

function validate(f: NetworkFaults): void {
  assert(f.dropRate >= 0 && f.dropRate < 1, `dropRate must be in [0, 1), got ${f.dropRate}`);
  assert(f.duplicateRate >= 0 && f.duplicateRate < 1, `duplicateRate must be in [0, 1), got ${f.duplicateRate}`);
  assert(Number.isSafeInteger(f.delayMin) && f.delayMin >= 1, `delayMin must be an integer >= 1, got ${f.delayMin}`);
  assert(Number.isSafeInteger(f.delayMax) && f.delayMax >= f.delayMin, `delayMax must be an integer >= delayMin, got ${f.delayMax}`);
}
