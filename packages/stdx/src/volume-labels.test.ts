import { describe, expect, it } from 'vitest';
import { otherVolumesLabel, VolumeLabels } from './volume-labels.js';

describe('VolumeLabels', () => {
  it('gives the first max volumes their own label and sums the rest under _other', () => {
    const labels = new VolumeLabels(2);
    expect(['a', 'b', 'c', 'a', 'd', 'b'].map((v) => labels.of(v))).toEqual(['a', 'b', otherVolumesLabel, 'a', otherVolumesLabel, 'b']);
  });

  it('never lets the _other label take a place of its own', () => {
    const labels = new VolumeLabels(1);
    expect(labels.of(otherVolumesLabel)).toBe(otherVolumesLabel);
    expect(labels.of('a')).toBe('a');
  });
});
