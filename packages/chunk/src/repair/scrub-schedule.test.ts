import { describe, expect, it } from 'vitest';
import { ScrubSchedule } from './scrub-schedule.js';

describe('ScrubSchedule', () => {
  it('waits for the first pass, visits every extent once, then waits an interval from the pass start', () => {
    const s = new ScrubSchedule(1000, 50);
    expect(s.next(0, ['a', 'b'])).toEqual({ kind: 'wait', untilMs: 50 });
    expect(s.next(50, ['a', 'b'])).toEqual({ kind: 'scrub', key: 'a' });
    expect(s.next(60, ['a', 'b'])).toEqual({ kind: 'scrub', key: 'b' });
    expect(s.lastPassFinishedMs).toBeUndefined();
    expect(s.next(300, ['a', 'b'])).toEqual({ kind: 'wait', untilMs: 1050 });
    expect(s.lastPassFinishedMs).toBe(300);
    expect(s.passes).toBe(1);
    expect(s.next(1050, ['a', 'b'])).toEqual({ kind: 'scrub', key: 'a' });
  });

  it('skips extents removed during a pass and leaves ones created during it for the next', () => {
    const s = new ScrubSchedule(1000, 0);
    expect(s.next(0, ['a', 'b', 'c'])).toEqual({ kind: 'scrub', key: 'a' });
    expect(s.next(1, ['a', 'c', 'd'])).toEqual({ kind: 'scrub', key: 'c' });
    expect(s.next(2, ['a', 'c', 'd'])).toEqual({ kind: 'wait', untilMs: 1000 });
    expect(s.next(1000, ['a', 'c', 'd'])).toEqual({ kind: 'scrub', key: 'a' });
  });

  it('starts the next pass at once when a pass took longer than the interval', () => {
    const s = new ScrubSchedule(100, 0);
    expect(s.next(0, ['a'])).toEqual({ kind: 'scrub', key: 'a' });
    expect(s.next(500, ['a'])).toEqual({ kind: 'scrub', key: 'a' });
    expect(s.passes).toBe(1);
  });

  it('finishes a pass over nothing and waits', () => {
    const s = new ScrubSchedule(100, 0);
    expect(s.next(5, [])).toEqual({ kind: 'wait', untilMs: 105 });
    expect(s.lastPassFinishedMs).toBe(5);
  });
});
