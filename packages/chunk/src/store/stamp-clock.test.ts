import { describe, expect, it } from 'vitest';
import { ErrorCode, limits } from '@basalt/stdx';
import { StampClock } from './stamp-clock.js';

describe('stamp clock', () => {
  it('counts seqs from 1 in each epoch and asks to reserve a block of them before handing one out', () => {
    const clock = new StampClock(undefined);
    expect(clock.take(1, 0, 3)).toEqual({ stamp: { epoch: 3, seq: 1 }, reserve: { epoch: 3, upTo: limits.chunkStampSeqReserve } });
    expect(clock.take(1, 0, 3)).toEqual({ stamp: { epoch: 3, seq: 2 }, reserve: undefined });
    expect(clock.take(1, 0, 4)).toEqual({ stamp: { epoch: 4, seq: 1 }, reserve: { epoch: 4, upTo: limits.chunkStampSeqReserve } });
  });

  it('resumes after the last reservation of the same epoch, and from 1 in a later one', () => {
    expect(new StampClock({ epoch: 3, upTo: 70_000 }).take(1, 0, 3).stamp).toEqual({ epoch: 3, seq: 70_001 });
    expect(new StampClock({ epoch: 3, upTo: 70_000 }).take(1, 0, 5).stamp).toEqual({ epoch: 5, seq: 1 });
  });

  it('refuses with BASALT_LIMIT_EXCEEDED once the epoch has no seq left, and an epoch that does not fit 32 bits', () => {
    const clock = new StampClock({ epoch: 2, upTo: limits.stampSeqMax - 1 });
    expect(clock.take(1, 0, 2)).toEqual({ stamp: { epoch: 2, seq: limits.stampSeqMax }, reserve: { epoch: 2, upTo: limits.stampSeqMax } });
    expect(() => clock.take(1, 0, 2)).toThrow(expect.objectContaining({ code: ErrorCode.LimitExceeded }));
    expect(clock.take(1, 0, 3).stamp).toEqual({ epoch: 3, seq: 1 });
    expect(() => clock.take(1, 0, 2 ** 32)).toThrow(expect.objectContaining({ code: ErrorCode.LimitExceeded }));
  });
});
