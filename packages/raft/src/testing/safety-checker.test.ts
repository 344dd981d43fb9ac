import { describe, expect, it } from 'vitest';
import { SafetyChecker, type EntryRef, type LogView } from './safety-checker.js';

const e = (index: number, term: number, fp = `x${index}.${term}`): EntryRef => ({ index, term, fp });
const log = (node: string, entries: EntryRef[]): LogView => ({ node, entries });
const kinds = (c: SafetyChecker): string[] => c.violations.map((v) => v.kind);

describe('election safety checker', () => {
  it('accepts one leader per term, re-reported or not', () => {
    const c = new SafetyChecker();
    c.leaderElected('n1', 1);
    c.leaderElected('n1', 1);
    c.leaderElected('n2', 2);
    expect(c.ok).toBe(true);
    expect(c.termsWithLeader).toBe(2);
  });

  it('reports two leaders in one term', () => {
    const c = new SafetyChecker();
    c.leaderElected('n1', 3);
    c.leaderElected('n2', 3);
    expect(kinds(c)).toEqual(['election_safety']);
    expect(c.violations[0]?.message).toContain('term 3 has two leaders: n1 and n2');
  });
});

describe('log matching checker', () => {
  it('accepts logs that agree below their last common entry and differ above it', () => {
    const c = new SafetyChecker();
    c.logsNow([log('n1', [e(1, 1), e(2, 1), e(3, 2)]), log('n2', [e(1, 1), e(2, 1), e(3, 3, 'other')]), log('n3', [e(2, 1)])]);
    expect(c.ok).toBe(true);
  });

  it('accepts logs compacted at different points', () => {
    const c = new SafetyChecker();
    c.logsNow([log('n1', [e(5, 2), e(6, 2), e(7, 2)]), log('n2', [e(1, 1), e(2, 1), e(3, 1), e(4, 2), e(5, 2), e(6, 2)])]);
    expect(c.ok).toBe(true);
  });

  it('reports logs that share an entry but differ before it', () => {
    const c = new SafetyChecker();
    c.logsNow([log('n1', [e(1, 1), e(2, 1), e(3, 2)]), log('n2', [e(1, 1), e(2, 2, 'forged'), e(3, 2)])]);
    expect(kinds(c)).toEqual(['log_matching']);
    expect(c.violations[0]?.message).toContain('differ at 2');
  });

  it('reports two different entries with one index and term, even on different nodes at different times', () => {
    const c = new SafetyChecker();
    c.entriesPersisted('n1', [e(4, 2, 'a')]);
    c.entriesPersisted('n2', [e(4, 2, 'a')]);
    expect(c.ok).toBe(true);
    c.entriesPersisted('n3', [e(4, 2, 'b')]);
    expect(kinds(c)).toEqual(['log_matching']);
  });
});

describe('state machine safety checker', () => {
  it('accepts nodes applying the same entries, again after a restart', () => {
    const c = new SafetyChecker();
    for (const node of ['n1', 'n2', 'n1']) for (const i of [1, 2, 3]) c.entryApplied(node, e(i, 1));
    expect(c.ok).toBe(true);
    expect(c.highestApplied).toBe(3);
  });

  it('reports two nodes applying different entries at one index', () => {
    const c = new SafetyChecker();
    c.entryApplied('n1', e(1, 1));
    c.entryApplied('n2', e(1, 2));
    expect(kinds(c)).toEqual(['state_machine_safety']);
  });

  it('reports same index and term with a different payload', () => {
    const c = new SafetyChecker();
    c.entryApplied('n1', e(1, 1, 'a'));
    c.entryApplied('n2', e(1, 1, 'b'));
    expect(kinds(c)).toEqual(['state_machine_safety']);
  });
});

describe('leader completeness checker', () => {
  function committedAtTerm2(): SafetyChecker {
    const c = new SafetyChecker();
    c.commitKnown('n1', 2, 3);
    for (const i of [1, 2, 3]) c.entryApplied('n1', e(i, i === 3 ? 2 : 1));
    return c;
  }

  it('accepts a later leader holding every committed entry', () => {
    const c = committedAtTerm2();
    c.leaderLog(3, log('n2', [e(1, 1), e(2, 1), e(3, 2), e(4, 3)]), 0);
    expect(c.ok).toBe(true);
  });

  it('accepts a later leader whose snapshot covers the committed entries', () => {
    const c = committedAtTerm2();
    c.leaderLog(3, log('n2', [e(4, 3)]), 3);
    expect(c.ok).toBe(true);
  });

  it('does not judge a leader of a term not above the commit', () => {
    const c = committedAtTerm2();
    c.leaderLog(2, log('n2', [e(1, 1)]), 0);
    expect(c.ok).toBe(true);
  });

  it('reports a later leader missing a committed entry', () => {
    const c = committedAtTerm2();
    c.leaderLog(4, log('n2', [e(1, 1), e(2, 1)]), 0);
    expect(kinds(c)).toEqual(['leader_completeness']);
    expect(c.violations[0]?.message).toContain('has nothing at 3');
  });

  it('reports a later leader holding a different entry where one was committed', () => {
    const c = committedAtTerm2();
    c.leaderLog(4, log('n2', [e(1, 1), e(2, 1), e(3, 3)]), 0);
    expect(kinds(c)).toEqual(['leader_completeness']);
  });

  it('bounds the commit term by the lowest term that knew of the commit', () => {
    const c = new SafetyChecker();
    c.commitKnown('n1', 5, 1);
    c.commitKnown('n2', 3, 1);
    c.entryApplied('n1', e(1, 1));
    c.leaderLog(4, log('n3', []), 0);
    expect(kinds(c)).toEqual(['leader_completeness']);
  });
});
