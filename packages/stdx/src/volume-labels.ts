import { assert } from './assert.js';

/**
 * Bounds the `volume` label of per-volume metrics: the first `max` distinct volumes a process
 * reports get series of their own, every later one is summed under `otherVolumesLabel`. A
 * volume keeps its label for the life of the process, so a series never changes meaning.
 */
export const otherVolumesLabel = '_other';

export class VolumeLabels {
  private readonly own = new Set<string>();

  constructor(readonly max: number) {
    assert(Number.isInteger(max) && max >= 0, 'VolumeLabels max must be a non-negative integer');
  }

  /** The label value to use for `volume` (itself while under the cap, else otherVolumesLabel). */
  of(volume: string): string {
    if (this.own.has(volume)) return volume;
    if (volume === otherVolumesLabel || this.own.size >= this.max) return otherVolumesLabel;
    this.own.add(volume);
    return volume;
  }
}
