import type { NodeId } from '../core/types.js';

export type ViolationKind =
  | 'election_safety'
  | 'log_matching'
  | 'leader_completeness'
  | 'state_machine_safety'
  | 'linearizability'
  | 'liveness'
  /** A healed, connected leader was deposed (what pre-vote and the leader lease prevent). */
  | 'needless_deposition'
  /** The run threw: an assertion of the core or the harness failed. */
  | 'exception';

export interface Violation {
  readonly kind: ViolationKind;
  readonly message: string;
}

/** An entry as the checkers see it: position and a fingerprint of type and payload. */
export interface EntryRef {
  readonly index: number;
  readonly term: number;
  readonly fp: string;
}

/** A node's stored log: the entries it holds, contiguous and ascending (compacted ones are gone). */
export interface LogView {
  readonly node: NodeId;
  readonly entries: readonly EntryRef[];
}

const violationsMax = 20;

/**
 * Raft's safety properties (Raft paper, figure 3), checked from what the nodes
 * report as a simulation runs:
 * - election safety: at most one leader per term;
 * - log matching: one (index, term) names one entry, and two logs that share an
 *   (index, term) agree on every earlier entry they both hold;
 * - leader completeness: a leader of term t holds every entry committed in a term < t;
 * - state machine safety: no two nodes apply different entries at one index.
 */
export class SafetyChecker {
  readonly violations: Violation[] = [];
  private readonly leaders = new Map<number, NodeId>();
  private readonly entryAt = new Map<string, string>();
  private readonly applied = new Map<number, EntryRef & { node: NodeId }>();
  /** For a committed index: an upper bound of the term it was committed in. */
  private readonly commitTermBound = new Map<number, number>();
  private readonly commitSeen = new Map<NodeId, number>();

  get ok(): boolean {
    return this.violations.length === 0;
  }

  get termsWithLeader(): number {
    return this.leaders.size;
  }

  /** The highest index any node applied (all of them are committed). */
  get highestApplied(): number {
    let max = 0;
    for (const index of this.applied.keys()) max = Math.max(max, index);
    return max;
  }

  private report(kind: ViolationKind, message: string): void {
    if (this.violations.length < violationsMax) this.violations.push({ kind, message });
  }

  leaderElected(node: NodeId, term: number): void {
    const other = this.leaders.get(term);
    if (other !== undefined && other !== node) this.report('election_safety', `term ${term} has two leaders: ${other} and ${node}`);
    if (other === undefined) this.leaders.set(term, node);
  }

  /** Entries a node wrote to its log: one (index, term) must always name the same entry. */
  entriesPersisted(node: NodeId, entries: readonly EntryRef[]): void {
    for (const e of entries) {
      const key = `${e.index}/${e.term}`;
      const known = this.entryAt.get(key);
      if (known === undefined) this.entryAt.set(key, e.fp);
      else if (known !== e.fp) this.report('log_matching', `${node} holds entry ${key} = ${e.fp}, another node held ${known}`);
    }
  }

  /** A node of term `term` knows entries up to `commit` are committed; they were committed in a term <= `term`. */
  commitKnown(node: NodeId, term: number, commit: number): void {
    const from = this.commitSeen.get(node) ?? 0;
    for (let i = from + 1; i <= commit; i++) {
      const bound = this.commitTermBound.get(i);
      if (bound === undefined || term < bound) this.commitTermBound.set(i, term);
    }
    this.commitSeen.set(node, commit);
  }

  /** The node restarted: its commit index may have gone back. */
  nodeRestarted(node: NodeId): void {
    this.commitSeen.delete(node);
  }

  entryApplied(node: NodeId, e: EntryRef): void {
    const first = this.applied.get(e.index);
    if (first === undefined) {
      this.applied.set(e.index, { ...e, node });
      return;
    }
    if (first.term !== e.term || first.fp !== e.fp) {
      this.report('state_machine_safety', `${node} applied ${e.index}/${e.term} = ${e.fp} but ${first.node} applied ${first.index}/${first.term} = ${first.fp}`);
    }
  }

  /**
   * A node just became leader of `term` with this log (its snapshot covers
   * everything below the log's first entry). Every applied entry committed in
   * an earlier term must be in it.
   */
  leaderLog(term: number, log: LogView, snapshotIndex: number): void {
    const byIndex = new Map(log.entries.map((e) => [e.index, e]));
    for (const [index, entry] of this.applied) {
      const bound = this.commitTermBound.get(index);
      if (bound === undefined || bound >= term || index <= snapshotIndex) continue;
      const mine = byIndex.get(index);
      if (mine === undefined || mine.term !== entry.term || mine.fp !== entry.fp) {
        const has = mine === undefined ? 'nothing' : `${mine.term} = ${mine.fp}`;
        this.report('leader_completeness', `${log.node}, leader of term ${term}, has ${has} at ${index}, where ${entry.term} = ${entry.fp} was committed by term ${bound}`);
      }
    }
  }

  /** Log matching across the current logs of all nodes. */
  logsNow(logs: readonly LogView[]): void {
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) this.comparePair(logs[a] as LogView, logs[b] as LogView);
    }
  }

  private comparePair(a: LogView, b: LogView): void {
    const first = (l: LogView): number => l.entries[0]?.index ?? Infinity;
    const last = (l: LogView): number => l.entries.at(-1)?.index ?? -Infinity;
    const lo = Math.max(first(a), first(b));
    const hi = Math.min(last(a), last(b));
    let matched = false;
    for (let i = hi; i >= lo; i--) {
      const ea = a.entries[i - first(a)] as EntryRef;
      const eb = b.entries[i - first(b)] as EntryRef;
      if (!matched && ea.term === eb.term) matched = true;
      if (matched && (ea.term !== eb.term || ea.fp !== eb.fp)) {
        this.report('log_matching', `${a.node} and ${b.node} share an entry above ${i} but differ at ${i}: ${ea.term} = ${ea.fp} vs ${eb.term} = ${eb.fp}`);
        return;
      }
    }
  }

  fail(kind: ViolationKind, message: string): void {
    this.report(kind, message);
  }
}
