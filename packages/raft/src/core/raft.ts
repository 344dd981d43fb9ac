import { assert, assertSafeUint, limits } from '@basalt/stdx';
import { encodeConfChange } from './conf-change-codec.js';
import { validateConfig } from './config.js';
import { entriesBytes } from './entries.js';
import { Membership } from './membership.js';
import { Progress } from './progress.js';
import { committedIndex, quorumSize, voteResult } from './quorum.js';
import { RaftLog } from './raft-log.js';
import { ReadOnly } from './read-only.js';
import type {
  ConfChange,
  ConfState,
  Config,
  Entry,
  HardState,
  Message,
  MessageType,
  NodeId,
  ProposeResult,
  ReadIndexResult,
  ReadState,
  Role,
  Snapshot,
  SoftState,
  TransferResult,
  UnsafeTestingKnobs,
} from './types.js';
import { None } from './types.js';

type CampaignKind = 'pre_election' | 'election' | 'transfer';

/**
 * Ticks between the fast campaigns of two voters ranked next to each other after a leader-loss
 * report (reportLeaderUnreachable). Ticks are not aligned across nodes, so rank r campaigning at
 * its (1 + 2r)-th tick after the report is at least one full tick after rank r - 1.
 */
const leaderLostStaggerTicks = 2;

/** The ctx a transferee's MsgVote carries so that voters in a leader lease still answer it. */
const campaignTransferCtx = new TextEncoder().encode('CampaignTransfer');

/**
 * The Raft state machine (etcd's raft.go): one step function per role, transitions named
 * becomeX, no I/O. RawNode wraps it with the Ready/advance protocol.
 * Invariants: a leader's `lead` is its own id; `vote` is '' or a voter of `term`;
 * `prs` has an entry for every member (voter or learner), this node included.
 */
export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = None;
  lead: NodeId = None;
  role: Role = 'follower';
  readonly log: RaftLog;
  /** Messages to send, drained by RawNode.ready(). */
  msgs: Message[] = [];
  /** Reads confirmed for local callers, drained by RawNode.ready(). */
  readStates: ReadState[] = [];
  membership: Membership;
  prs = new Map<NodeId, Progress>();
  /** Leader only: the target of a leadership transfer in progress, or ''. */
  leadTransferee: NodeId = None;
  /** Leader only: index of the latest conf change proposed; a new one waits until applied >= it. */
  pendingConfIndex = 0;
  /** Leader only: bytes of entry data appended but not yet committed. */
  uncommittedSize = 0;
  /** Leader only: entries were appended since the last broadcast (flushed by RawNode.ready()). */
  appendsPending = false;

  private readonly cfg: Config;
  /** Test-only protocol breakers (all off in production). */
  private readonly unsafe: UnsafeTestingKnobs;
  private votes = new Map<NodeId, boolean>();
  private readOnly: ReadOnly;
  /** ReadIndex requests that arrived before the leader committed an entry of its term. */
  private pendingReadIndex: { from: NodeId; ctx: Uint8Array }[] = [];
  private electionElapsed = 0;
  /**
   * Follower only: ticks left before a fast campaign because the transport reported the leader
   * unreachable (reportLeaderUnreachable), or 0 for none. Set only while `lead` is None after such
   * a report; cleared by any message from a leader (heardFromLeader) and by every reset.
   */
  private leaderLostTicks = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  constructor(cfg: Config) {
    validateConfig(cfg);
    this.cfg = cfg;
    this.unsafe = cfg.unsafeTestingKnobs ?? {};
    this.id = cfg.id;
    this.log = new RaftLog(cfg.storage, this.unsafe.appendIgnoringPrevTerm === true);
    this.readOnly = new ReadOnly(limits.raftPendingReadsMax);
    const { hardState, confState } = cfg.storage.initialState();
    this.membership = new Membership(confState);
    this.resetProgress();
    this.loadHardState(hardState);
    // The commit index in the hard state is saved without an fsync, so after a crash it may
    // lag what the application durably applied; applied entries were committed.
    if (cfg.applied > this.log.committed) this.log.commitTo(cfg.applied);
    if (cfg.applied > 0) this.log.appliedTo(cfg.applied);
    this.becomeFollower(this.term, None);
  }

  // ---------------------------------------------------------------- state

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  /** Only voters campaign; a learner or a removed node never does. */
  promotable(): boolean {
    return this.membership.voters.has(this.id);
  }

  private loadHardState(hs: HardState): void {
    // The snapshot is committed by definition, so hs.commit may lag it (e.g. a bootstrap snapshot).
    assert(hs.commit <= this.log.lastIndex(), `hard state commit ${hs.commit} beyond last index ${this.log.lastIndex()}`);
    this.log.commitTo(hs.commit);
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /** Queues a message; unset fields take their zero values and `term` our current term. */
  private send(m: Partial<Message> & Pick<Message, 'type' | 'to'>): void {
    this.msgs.push({
      from: this.id,
      term: this.term,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      ...m,
    });
  }

  // ---------------------------------------------------------------- transitions

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = None;
    }
    this.lead = None;
    this.electionElapsed = 0;
    this.leaderLostTicks = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = None;
    this.votes = new Map();
    this.resetProgress();
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.appendsPending = false;
    this.readOnly = new ReadOnly(limits.raftPendingReadsMax);
    this.pendingReadIndex = [];
  }

  private resetProgress(): void {
    this.prs = new Map();
    const next = this.log.lastIndex() + 1;
    for (const id of this.membership.voters) this.prs.set(id, new Progress(next, this.cfg.maxInflightMsgs, false));
    for (const id of this.membership.learners) this.prs.set(id, new Progress(next, this.cfg.maxInflightMsgs, true));
    const self = this.prs.get(this.id);
    if (self !== undefined) self.match = this.persistedIndex();
  }

  /** The last index in stable storage (entries the caller persisted and acknowledged via advance). */
  persistedIndex(): number {
    if (this.log.unstable.snapshot !== undefined) return 0;
    return Math.min(this.log.unstable.offset - 1, this.log.lastIndex());
  }

  private resetRandomizedElectionTimeout(): void {
    const r = this.cfg.random();
    assert(r >= 0 && r < 1, `Config.random() must return a number in [0, 1), got ${r}`);
    this.randomizedElectionTimeout = this.cfg.electionTick + Math.floor(r * this.cfg.electionTick);
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a pre-candidate');
    // A pre-candidate keeps its term and vote: pre-vote changes nothing durable.
    this.votes = new Map();
    this.lead = None;
    this.role = 'pre_candidate';
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a candidate');
    const term = this.term + 1;
    assertSafeUint(term, 'term');
    this.reset(term);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', `only a candidate becomes leader, not a ${this.role}`);
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.prs.get(this.id);
    assert(self !== undefined, 'a leader is a member');
    self.becomeReplicate();
    self.match = this.persistedIndex();
    self.next = this.log.lastIndex() + 1;
    self.recentActive = true;
    // Conservatively treat any unapplied entry as a pending conf change.
    this.pendingConfIndex = this.log.lastIndex();
    if (this.unsafe.noEmptyEntryOnElection === true) return;
    const appended = this.appendEntries([{ term: 0, index: 0, type: 'Normal', data: new Uint8Array(0) }]);
    assert(appended, 'the empty entry of a new leader always fits');
  }

  // ---------------------------------------------------------------- tick

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.leaderLostTicks > 0 && --this.leaderLostTicks === 0) {
      this.electionElapsed = 0;
      this.hup('pre_election');
      return;
    }
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup('pre_election');
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, None);
        return;
      }
      if (this.leadTransferee !== None) this.leadTransferee = None;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastPendingCtx());
    }
  }

  /** Check-quorum: were a majority of voters heard from in the last election timeout? Resets the marks. */
  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.membership.voters) {
      const pr = this.prs.get(id);
      if (id === this.id || pr?.recentActive === true) active++;
    }
    for (const [id, pr] of this.prs) pr.recentActive = id === this.id;
    return active >= quorumSize(this.membership.voters.size);
  }

  // ---------------------------------------------------------------- elections

  /** Starts an election (or a pre-vote round) if this node may. */
  hup(kind: CampaignKind): void {
    if (this.role === 'leader' || !this.promotable() || this.hasUnappliedConfChange()) return;
    const preVote = this.cfg.preVote && this.unsafe.skipPreVote !== true;
    this.campaign(kind === 'pre_election' && !preVote ? 'election' : kind);
  }

  /** Campaigning with an unapplied conf change could elect a leader under the wrong config (etcd does the same). */
  private hasUnappliedConfChange(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const ents = this.log.slice(this.log.applied + 1, this.log.committed + 1, Number.POSITIVE_INFINITY);
    return ents === 'compacted' || ents.some((e) => e.type === 'ConfChange');
  }

  private campaign(kind: CampaignKind): void {
    let type: MessageType;
    let term: number;
    if (kind === 'pre_election') {
      this.becomePreCandidate();
      type = 'MsgPreVote';
      term = this.term + 1;
      assertSafeUint(term, 'pre-vote term');
    } else {
      this.becomeCandidate();
      type = 'MsgVote';
      term = this.term;
    }
    this.votes.set(this.id, true);
    if (this.tallyVotes()) return;
    for (const id of this.membership.voters) {
      if (id === this.id) continue;
      this.send({
        type,
        to: id,
        term,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        ...(kind === 'transfer' ? { context: campaignTransferCtx } : {}),
      });
    }
  }

  /** Acts on the votes so far; returns true if the election was decided. */
  private tallyVotes(): boolean {
    const result = voteResult(this.membership.voters, this.votes);
    if (result === 'won') {
      if (this.role === 'pre_candidate') this.campaign('election');
      else this.becomeLeader();
      return true;
    }
    if (result === 'lost') {
      this.becomeFollower(this.term, None);
      return true;
    }
    return false;
  }

  private handleVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === None && this.lead === None) ||
      (m.type === 'MsgPreVote' && m.term > this.term) ||
      this.unsafe.grantEveryVote === true;
    const upToDate = this.log.isUpToDate(m.index, m.logTerm) || this.unsafe.voteWithoutUpToDateCheck === true;
    const respType = m.type === 'MsgVote' ? 'MsgVoteResp' : 'MsgPreVoteResp';
    if (canVote && upToDate) {
      // A granted pre-vote answers in the request's term, so the pre-candidate counts it.
      this.send({ type: respType, to: m.from, term: m.term });
      if (m.type === 'MsgVote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, term: this.term, reject: true });
    }
  }

  // ---------------------------------------------------------------- step

  /** Handles a message from the network. */
  step(m: Message): void {
    assert(m.to === this.id, `message for ${m.to} stepped into ${this.id}`);
    for (const [field, value] of [['term', m.term], ['index', m.index], ['logTerm', m.logTerm], ['commit', m.commit]] as const) {
      assertSafeUint(value, `message ${field}`);
    }
    if (!this.stepTerm(m)) return;
    switch (m.type) {
      case 'MsgVote':
      case 'MsgPreVote':
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'pre_candidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  /** Compares the message's term with ours (Raft §5.1 plus pre-vote and leases). Returns false to drop it. */
  private stepTerm(m: Message): boolean {
    if (m.term > this.term) return this.stepHigherTerm(m);
    if (m.term < this.term) {
      this.answerStaleTerm(m);
      return false;
    }
    return true;
  }

  private stepHigherTerm(m: Message): boolean {
    if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
      const forced = m.context !== undefined && bytesEqual(m.context, campaignTransferCtx);
      const inLease = this.cfg.checkQuorum && this.lead !== None && this.electionElapsed < this.cfg.electionTick && this.unsafe.voteDuringLease !== true;
      // Leader lease: while we hear a leader, a disruptive candidate gets no answer.
      if (!forced && inLease) return false;
    }
    if (m.type === 'MsgPreVote' || (m.type === 'MsgPreVoteResp' && !m.reject)) {
      // Pre-vote never changes terms; a granted pre-vote response carries the future term.
      return true;
    }
    const fromLeader = m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap';
    this.becomeFollower(m.term, fromLeader ? m.from : None);
    return true;
  }

  private answerStaleTerm(m: Message): void {
    if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'MsgHeartbeat' || m.type === 'MsgApp')) {
      // A stale leader cut off by check-quorum or pre-vote would otherwise never learn the new term.
      this.send({ type: 'MsgAppResp', to: m.from });
    } else if (m.type === 'MsgPreVote') {
      this.send({ type: 'MsgPreVoteResp', to: m.from, reject: true });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'MsgApp':
        this.heardFromLeader(m.from);
        this.handleAppendEntries(m);
        return;
      case 'MsgHeartbeat':
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case 'MsgSnap':
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        return;
      case 'MsgTimeoutNow':
        // Leadership transfer: campaign at once, skipping pre-vote (the leader asked for it).
        this.hup('transfer');
        return;
      case 'MsgReadIndexResp':
        this.readStates.push({ index: m.index, ctx: m.context ?? new Uint8Array(0) });
        return;
      default:
        return;
    }
  }

  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.leaderLostTicks = 0;
    this.lead = from;
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'MsgApp':
      case 'MsgHeartbeat':
      case 'MsgSnap':
        // Someone won this term.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'MsgVoteResp':
      case 'MsgPreVoteResp': {
        const mine = this.role === 'pre_candidate' ? 'MsgPreVoteResp' : 'MsgVoteResp';
        if (m.type !== mine) return;
        if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject);
        this.tallyVotes();
        return;
      }
      default:
        return;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    switch (m.type) {
      case 'MsgAppResp':
        if (pr !== undefined) this.handleAppendResponse(m, pr);
        return;
      case 'MsgHeartbeatResp':
        if (pr !== undefined) this.handleHeartbeatResponse(m, pr);
        return;
      case 'MsgReadIndex':
        this.leaderReadIndex(m.from, m.context ?? new Uint8Array(0));
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- follower handlers

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: 'MsgAppResp', to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: 'MsgAppResp', to: m.from, index: lastNew });
      return;
    }
    // Fast back-off: hint the last entry that could match, skipping our entries of newer terms.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({ type: 'MsgAppResp', to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'MsgHeartbeatResp', to: m.from, ...(m.context !== undefined ? { context: m.context } : {}) });
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    assert(snap !== undefined, 'MsgSnap without a snapshot');
    if (this.restore(snap)) {
      this.send({ type: 'MsgAppResp', to: m.from, index: this.log.lastIndex() });
    } else {
      this.send({ type: 'MsgAppResp', to: m.from, index: this.log.committed });
    }
  }

  /** Installs a leader's snapshot unless our log already covers it. Returns true if installed. */
  private restore(snap: Snapshot): boolean {
    if (snap.meta.index <= this.log.committed) return false;
    const holdsLast = this.unsafe.snapshotMatchByIndexOnly === true ? this.log.term(snap.meta.index) !== undefined : this.log.matchTerm(snap.meta.index, snap.meta.term);
    if (holdsLast) {
      // Our log already has the snapshot's last entry: just commit up to it.
      this.log.commitTo(snap.meta.index);
      return false;
    }
    this.log.restore(snap);
    this.membership = new Membership(snap.meta.conf);
    this.resetProgress();
    return true;
  }

  // ---------------------------------------------------------------- leader handlers

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      this.handleAppendRejection(m, pr);
      return;
    }
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === 'probe')) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      // The follower caught up through the snapshot (or entries still in our log).
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index);
    }
    const committedBefore = this.log.committed;
    if (this.maybeCommit()) this.bcastCommit(committedBefore);
    while (this.maybeSendAppend(m.from, false)) {
      // Keep streaming while the inflight window allows.
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleAppendRejection(m: Message, pr: Progress): void {
    let nextProbe = m.rejectHint;
    if (m.logTerm > 0) {
      // Skip every entry of ours with a term above the follower's hinted term.
      nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
    }
    if (!pr.maybeDecrTo(m.index, nextProbe)) return;
    if (pr.state === 'replicate') pr.becomeProbe();
    this.maybeSendAppend(m.from, true);
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    // Appends or their acknowledgements may be lost: a follower whose match did not move for
    // a heartbeat interval gets an append (possibly empty, which it rejects if it lacks our
    // last entry); a full window that did not move falls back to probing from match + 1.
    const stalled = pr.match === pr.matchAtHeartbeat;
    pr.matchAtHeartbeat = pr.match;
    if (pr.state === 'snapshot') this.checkSnapshotStall(pr);
    else if (pr.state === 'replicate' && stalled && pr.inflights.full()) pr.becomeProbe();
    if (pr.match < this.log.lastIndex() && (pr.state !== 'replicate' || stalled)) this.maybeSendAppend(m.from, true);
    if (m.context !== undefined) this.readAck(m.from, m.context);
  }

  /**
   * A snapshot may be lost in transit. After an election timeout's worth of heartbeats
   * without an acknowledgement, probe again (which resends the snapshot if still needed).
   */
  private checkSnapshotStall(pr: Progress): void {
    pr.snapshotHeartbeats++;
    if (pr.snapshotHeartbeats * this.cfg.heartbeatTick >= this.cfg.electionTick) pr.becomeProbe();
  }

  /** The caller's transport reports that sending a snapshot to `id` failed (or succeeded). */
  reportSnapshot(id: NodeId, failed: boolean): void {
    const pr = this.prs.get(id);
    if (this.role !== 'leader' || pr === undefined || pr.state !== 'snapshot') return;
    if (failed) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the next heartbeat response before probing (as etcd's MsgSnapStatus).
    pr.probeSent = true;
  }

  /** The caller's transport could not reach `id`: stop streaming to it and probe instead. */
  reportUnreachable(id: NodeId): void {
    const pr = this.prs.get(id);
    if (this.role === 'leader' && pr?.state === 'replicate') pr.becomeProbe();
  }

  /**
   * The caller's transport has strong evidence that `id`, the leader this follower follows, is
   * gone (its address refuses connections: the process died). The follower ends its leader lease
   * (`lead` becomes None, so it answers other candidates' pre-votes and votes) and campaigns,
   * with pre-vote, after 1 + 2 * rank ticks, rank being its place among the other voters sorted
   * by id: the followers that see the same loss at the same moment do not split the vote.
   * Invariants, which keep Raft safe whatever the caller reports:
   * - it changes no term, vote or log, and only a follower of `id` acts on it;
   * - it ends this node's lease alone: a voter that still hears the leader ignores the pre-vote
   *   (stepHigherTerm), and so does the leader, so a false report at a minority of voters costs
   *   one pre-vote round, and the next message from the leader restores the lease and cancels
   *   the campaign;
   * - without a report, or when it is wrong, the election timeout applies as before.
   * Returns whether this node acted on it (a promotable follower of `id`): what the caller counts.
   */
  reportLeaderUnreachable(id: NodeId): boolean {
    if (this.role !== 'follower' || id === None || this.lead !== id || !this.promotable()) return false;
    const others = [...this.membership.voters].filter((v) => v !== id).sort();
    const rank = others.indexOf(this.id);
    assert(rank >= 0, 'a promotable follower is one of the voters');
    this.lead = None;
    this.leaderLostTicks = 1 + leaderLostStaggerTicks * rank;
    return true;
  }

  // ---------------------------------------------------------------- replication

  /**
   * Sends the entries `to` needs next, or a snapshot if they were compacted away. With
   * `sendIfEmpty` false nothing is sent when there are no new entries. Returns true if a
   * message was sent.
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (pr === undefined || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const ents = this.log.entriesFrom(pr.next, this.cfg.maxSizePerMsg);
    if (prevTerm === undefined || ents === 'compacted') return this.maybeSendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'MsgApp', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed });
    const last = ents.length > 0 ? (ents[ents.length - 1] as Entry).index : prevIndex;
    pr.sentEntries(last, ents.length);
    return true;
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    const snapshot = this.log.snapshot();
    assert(snapshot.meta.index > 0, `entries for ${to} were compacted but there is no snapshot`);
    this.send({ type: 'MsgSnap', to, snapshot });
    pr.becomeSnapshot(snapshot.meta.index);
    return true;
  }

  bcastAppend(): void {
    for (const id of this.prs.keys()) {
      if (id !== this.id) this.maybeSendAppend(id, true);
    }
  }

  /**
   * The commit index moved past `before`: every follower hears it now when Config.announceCommit
   * is on, or when the commit covers a membership change (up to pendingConfIndex: a member the
   * change removes gets nothing from this leader once it is applied here, and must learn that it
   * committed); otherwise only the followers with new entries get an append.
   */
  private bcastCommit(before: number): void {
    const confCommitted = before < this.pendingConfIndex && this.pendingConfIndex <= this.log.committed;
    if (this.cfg.announceCommit !== false || confCommitted) return this.bcastAppend();
    for (const id of this.prs.keys()) {
      if (id !== this.id) this.maybeSendAppend(id, false);
    }
  }

  /** Sends the entries appended since the last call to every follower (one MsgApp each per batch). */
  flushAppends(): void {
    if (!this.appendsPending) return;
    this.appendsPending = false;
    if (this.role === 'leader') this.bcastAppend();
  }

  private bcastHeartbeat(ctx: Uint8Array | undefined): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: 'MsgHeartbeat', to: id, commit, ...(ctx !== undefined ? { context: ctx } : {}) });
    }
  }

  /**
   * Advances commit to the index a quorum of voters has persisted, if the entry there is
   * from the current term (§5.4.2; older entries commit indirectly). Returns true if it moved.
   */
  private maybeCommit(): boolean {
    const mci = committedIndex(this.membership.voters, (id) => this.prs.get(id)?.match ?? 0);
    const before = this.log.committed;
    if (this.unsafe.commitPriorTermByCount === true && mci > before) {
      this.log.commitTo(mci);
    } else if (!this.log.maybeCommit(mci, this.term)) {
      return false;
    }
    this.releasePendingReadIndex();
    return this.log.committed > before;
  }

  /** Entries up to `index` are now in this node's stable storage. */
  onPersisted(index: number): void {
    if (this.role !== 'leader') return;
    const self = this.prs.get(this.id);
    if (self === undefined || !self.maybeUpdate(index)) return;
    const committedBefore = this.log.committed;
    if (this.maybeCommit()) this.bcastCommit(committedBefore);
  }

  // ---------------------------------------------------------------- proposals

  private leaderRefusal(): ProposeResult | undefined {
    if (this.role !== 'leader') return { ok: false, reason: 'not_leader', leaderHint: this.lead };
    if (this.leadTransferee !== None) return { ok: false, reason: 'dropped' };
    return undefined;
  }

  propose(data: Uint8Array): ProposeResult {
    return this.proposeEntry('Normal', data);
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    const refusal = this.leaderRefusal();
    if (refusal !== undefined) return refusal;
    if (this.pendingConfIndex > this.log.applied && this.unsafe.concurrentConfChanges !== true) return { ok: false, reason: 'conf_change_pending' };
    const invalid = this.membership.invalidReason(cc);
    if (invalid !== undefined) return { ok: false, reason: 'invalid_conf_change', detail: invalid };
    const result = this.proposeEntry('ConfChange', encodeConfChange(cc));
    if (result.ok) this.pendingConfIndex = result.index;
    return result;
  }

  private proposeEntry(type: Entry['type'], data: Uint8Array): ProposeResult {
    const refusal = this.leaderRefusal();
    if (refusal !== undefined) return refusal;
    if (data.length > limits.raftEntryBytesMax) return { ok: false, reason: 'too_large', maxBytes: limits.raftEntryBytesMax };
    if (!this.appendEntries([{ term: 0, index: 0, type, data }])) return { ok: false, reason: 'too_many_uncommitted' };
    return { ok: true, index: this.log.lastIndex(), term: this.term };
  }

  /** Leader: stamps term and index on `es` and appends them. False if over the uncommitted budget. */
  private appendEntries(es: Entry[]): boolean {
    if (!this.increaseUncommittedSize(es)) return false;
    let index = this.log.lastIndex();
    const stamped = es.map((e) => {
      index++;
      assertSafeUint(index, 'log index');
      return { ...e, term: this.term, index };
    });
    this.log.append(stamped);
    this.appendsPending = true;
    return true;
  }

  /** The first proposal always fits (so one oversize entry cannot wedge the leader). */
  private increaseUncommittedSize(es: readonly Entry[]): boolean {
    const s = entriesBytes(es);
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.cfg.maxUncommittedEntriesSize) return false;
    this.uncommittedSize += s;
    return true;
  }

  reduceUncommittedSize(committed: readonly Entry[]): void {
    if (this.role !== 'leader') return;
    this.uncommittedSize = Math.max(0, this.uncommittedSize - entriesBytes(committed));
  }

  // ---------------------------------------------------------------- ReadIndex

  readIndex(ctx: Uint8Array): ReadIndexResult {
    if (this.role === 'leader') {
      this.leaderReadIndex(this.id, ctx);
      return { ok: true };
    }
    if (this.lead === None || this.role !== 'follower') return { ok: false, reason: 'not_leader', leaderHint: this.lead };
    this.send({ type: 'MsgReadIndex', to: this.lead, context: ctx });
    return { ok: true };
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private leaderReadIndex(from: NodeId, ctx: Uint8Array): void {
    if (!this.committedEntryInCurrentTerm()) {
      // Until the leader commits in its term it does not know the true commit index (§6.4).
      if (this.pendingReadIndex.length < limits.raftPendingReadsMax) {
        this.pendingReadIndex.push({ from, ctx });
      }
      return;
    }
    if (this.membership.voters.size === 1 || this.unsafe.readIndexWithoutQuorum === true) {
      this.answerRead(from, this.log.committed, ctx);
      return;
    }
    if (!this.readOnly.add(this.log.committed, from, ctx)) return;
    this.readAck(this.id, ctx);
    this.bcastHeartbeat(ctx);
  }

  private releasePendingReadIndex(): void {
    if (this.pendingReadIndex.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const queued = this.pendingReadIndex;
    this.pendingReadIndex = [];
    for (const r of queued) this.leaderReadIndex(r.from, r.ctx);
  }

  private readAck(from: NodeId, ctx: Uint8Array): void {
    const acks = this.readOnly.recvAck(from, ctx);
    if (acks === undefined) return;
    let voters = 0;
    for (const id of acks) if (this.membership.voters.has(id)) voters++;
    if (voters < quorumSize(this.membership.voters.size)) return;
    for (const req of this.readOnly.advance(ctx)) this.answerRead(req.from, req.index, req.ctx);
  }

  private answerRead(to: NodeId, index: number, ctx: Uint8Array): void {
    if (to === this.id) this.readStates.push({ index, ctx });
    else this.send({ type: 'MsgReadIndexResp', to, index, context: ctx });
  }

  // ---------------------------------------------------------------- leadership transfer

  transferLeader(to: NodeId): TransferResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not_leader', leaderHint: this.lead };
    if (to === this.id) return { ok: false, reason: 'already_leader' };
    const pr = this.prs.get(to);
    if (pr === undefined || pr.isLearner) return { ok: false, reason: 'not_a_voter' };
    if (this.leadTransferee === to) return { ok: true };
    // Proposals are refused until the transfer ends; it is abandoned after an election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = to;
    if (pr.match === this.log.lastIndex() || this.unsafe.transferBeforeCaughtUp === true) this.sendTimeoutNow(to);
    else this.maybeSendAppend(to, true);
    return { ok: true };
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'MsgTimeoutNow', to });
  }

  // ---------------------------------------------------------------- membership

  /** Applies a committed conf change (the caller applies each one once, in log order). */
  applyConfChange(cc: ConfChange): ConfState {
    if (this.membership.invalidReason(cc) !== undefined) return this.membership.confState();
    this.membership.apply(cc);
    this.syncProgress();
    if (this.role === 'leader') this.leaderAfterConfChange(cc);
    return this.membership.confState();
  }

  /** Makes `prs` match the membership: new members probe from the end of the log. */
  private syncProgress(): void {
    for (const id of [...this.prs.keys()]) {
      if (!this.membership.has(id)) this.prs.delete(id);
    }
    const next = this.log.lastIndex() + 1;
    for (const id of [...this.membership.voters, ...this.membership.learners]) {
      let pr = this.prs.get(id);
      if (pr === undefined) {
        pr = new Progress(next, this.cfg.maxInflightMsgs, false);
        // A new member has not had the chance to answer yet: do not count it inactive.
        pr.recentActive = true;
        if (id === this.id) pr.match = this.persistedIndex();
        this.prs.set(id, pr);
      }
      pr.isLearner = this.membership.learners.has(id);
    }
  }

  private leaderAfterConfChange(cc: ConfChange): void {
    if (!this.membership.voters.has(this.id)) {
      // Removed (or no longer a voter): tell everyone the latest commit, then step down.
      this.bcastAppend();
      this.becomeFollower(this.term, None);
      return;
    }
    if (this.leadTransferee !== None && !this.membership.voters.has(this.leadTransferee)) this.leadTransferee = None;
    if (this.maybeCommit()) this.bcastAppend();
    else if (cc.type !== 'RemoveNode') this.maybeSendAppend(cc.nodeId, true);
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
