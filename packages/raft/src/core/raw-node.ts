import { assert, limits } from '@basalt/stdx';
import { Raft } from './raft.js';
import type {
  ConfChange,
  ConfState,
  Config,
  HardState,
  Message,
  NodeId,
  ProposeResult,
  ReadIndexResult,
  Ready,
  SoftState,
  Status,
  StepResult,
  TransferResult,
} from './types.js';

const responseTypes = new Set<Message['type']>(['MsgAppResp', 'MsgVoteResp', 'MsgPreVoteResp', 'MsgHeartbeatResp', 'MsgReadIndexResp']);

/**
 * The caller's handle on one Raft node (etcd's RawNode). Synchronous and deterministic:
 * inputs are tick(), step() and the propose/read/transfer calls; the output is a Ready,
 * which the caller persists, sends and applies before calling advance(). See docs/raft.md.
 */
export class RawNode {
  private readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  /** The Ready handed out and not yet advanced. */
  private outstanding: Ready | undefined = undefined;

  constructor(cfg: Config) {
    this.raft = new Raft(cfg);
    this.prevSoft = this.raft.softState();
    this.prevHard = this.raft.hardState();
  }

  /** Advances logical time by one tick (election and heartbeat timeouts count ticks). */
  tick(): void {
    this.raft.tick();
  }

  /** Feeds a message from the network. Responses from unknown peers are refused. */
  step(m: Message): StepResult {
    if (responseTypes.has(m.type) && !this.raft.prs.has(m.from)) return { ok: false, reason: 'peer_not_found' };
    this.raft.step(m);
    return { ok: true };
  }

  /** Starts an election now (pre-vote first if configured). Does nothing on a leader or a non-voter. */
  campaign(): void {
    this.raft.hup('pre_election');
  }

  propose(data: Uint8Array): ProposeResult {
    return this.raft.propose(data);
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    return this.raft.proposeConfChange(cc);
  }

  /** Must be called for each committed ConfChange entry as it is applied, in log order. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** Requests a linearizable read; a ReadState with `ctx` appears in a later Ready (ctx must be unique among pending reads). */
  readIndex(ctx: Uint8Array): ReadIndexResult {
    return this.raft.readIndex(ctx);
  }

  transferLeader(to: NodeId): TransferResult {
    return this.raft.transferLeader(to);
  }

  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  /**
   * The transport has strong evidence that the leader `id` is gone (e.g. its address refuses
   * connections, not a merely slow or silent peer): a follower of `id` ends its lease and
   * campaigns within a few ticks, staggered by rank. Safe to call wrongly; see Raft. Returns
   * whether this node acted on it.
   */
  reportLeaderUnreachable(id: NodeId): boolean {
    return this.raft.reportLeaderUnreachable(id);
  }

  reportSnapshot(id: NodeId, failed: boolean): void {
    this.raft.reportSnapshot(id, failed);
  }

  hasReady(): boolean {
    const r = this.raft;
    const log = r.log;
    return (
      r.appendsPending ||
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      log.unstable.entries.length > 0 ||
      log.unstable.snapshot !== undefined ||
      log.hasNextCommittedEntries() ||
      !softEqual(r.softState(), this.prevSoft) ||
      !hardEqual(r.hardState(), this.prevHard)
    );
  }

  /** The work to do now. Call advance(ready) before the next ready(). */
  ready(): Ready {
    assert(this.outstanding === undefined, 'ready() called twice without advance()');
    const r = this.raft;
    r.flushAppends();
    const entries = [...r.log.unstable.entries];
    const soft = r.softState();
    const hard = r.hardState();
    const rd: Ready = {
      readStates: r.readStates,
      entries,
      committedEntries: r.log.nextCommittedEntries(limits.raftCommittedBytesPerReadyMax),
      // A message from an older term of ours is stale: dropping it is always safe, and an
      // acknowledgement of entries a newer leader has since overwritten must not go out.
      messages: r.msgs.filter((m) => m.term >= r.term),
      mustSync: entries.length > 0 || hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote,
    };
    const snapshot = r.log.unstable.snapshot;
    if (snapshot !== undefined) {
      rd.snapshot = snapshot;
      rd.mustSync = true;
    }
    if (!softEqual(soft, this.prevSoft)) rd.softState = soft;
    if (!hardEqual(hard, this.prevHard)) rd.hardState = hard;
    r.msgs = [];
    r.readStates = [];
    this.prevSoft = soft;
    this.prevHard = hard;
    this.outstanding = rd;
    return rd;
  }

  /** The caller persisted, sent and applied `rd`. */
  advance(rd: Ready): void {
    assert(this.outstanding === rd, 'advance() must get the Ready the last ready() returned');
    this.outstanding = undefined;
    const log = this.raft.log;
    if (rd.snapshot !== undefined) {
      log.stableSnapTo(rd.snapshot.meta.index);
      log.appliedTo(rd.snapshot.meta.index);
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) log.stableTo(last.index, last.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) {
      log.appliedTo(lastApplied.index);
      this.raft.reduceUncommittedSize(rd.committedEntries);
    }
    this.raft.onPersisted(this.raft.persistedIndex());
  }

  status(): Status {
    const r = this.raft;
    const status: Status = {
      id: r.id,
      hardState: r.hardState(),
      softState: r.softState(),
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      conf: r.membership.confState(),
      leadTransferee: r.leadTransferee,
    };
    if (r.role === 'leader') {
      status.progress = {};
      for (const [id, pr] of r.prs) status.progress[id] = pr.status();
    }
    return status;
  }
}

function softEqual(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

function hardEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
