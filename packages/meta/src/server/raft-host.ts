import { MemoryStorage, RawNode, decodeConfChange, encodeConfChange, planReady, storeReady } from '@basalt/raft';
import type { ConfChange, ConfState, Entry, HardState, Message, Ready, Snapshot, SnapshotMeta, SoftState } from '@basalt/raft';
import { BasaltError, ErrorCode, assert, limits } from '@basalt/stdx';
import { raftpb, type TransportSecurity } from '@basalt/wire';
import { MetaState, decodeCommand, encodeCommand } from '../state/index.js';
import type { Command, Result } from '../state/index.js';
import { planApply } from './deferred-apply.js';
import type { LogStore, PersistedLog } from './log-store.js';
import { MemberBook } from './members.js';
import type { MemberInfo } from './members.js';
import type { MetaMetrics } from './metrics.js';
import { forceNewCluster } from './force-new-cluster.js';
import { PendingProposals } from './pending.js';
import { messageFromPb, snapshotDataHead } from './raft-codec.js';
import { ReadBatcher } from './read-batcher.js';
import { RaftTransport } from './transport.js';

export interface RaftHostOptions {
  id: string;
  /** host:port this member's gRPC server listens on (what peers dial). */
  address: string;
  cluster: string;
  store: LogStore;
  /** The initial members (id -> address), this one included; also used to reach peers when joining. */
  peers: ReadonlyMap<string, string>;
  /** A new member of a running cluster: it waits for the leader instead of bootstrapping. */
  join: boolean;
  /** Disaster recovery: restart this member alone as a one-member cluster (see force-new-cluster.ts). */
  forceNewCluster?: boolean;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Take a snapshot once this many entries or bytes were applied since the last one. */
  snapshotEntries: number;
  snapshotBytes: number;
  /** Entries kept behind a snapshot for followers that are slightly behind. */
  snapshotKeepEntries: number;
  requestTimeoutMs: number;
  metrics: MetaMetrics;
  log(line: string): void;
  /** How the Raft connections to peers are secured. */
  security: TransportSecurity;
  /** This member was removed from the cluster (it stops serving). */
  onRemoved(): void;
}

export type Role = 'leader' | 'follower' | 'candidate' | 'pre-candidate' | 'learner';

export interface HostStatus {
  id: string;
  address: string;
  role: Role;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  leaderId: string;
  leaderAddress: string;
  snapshotIndex: number;
  firstLogIndex: number;
  lastLogIndex: number;
}

type ApplyResult = Result<unknown> | MemberInfo[] | undefined;

/**
 * Drives a RawNode with real time, a LogStore and the gRPC transport, and applies committed
 * entries to the MetaState. One loop handles Readies one at a time, in the order of `planReady`
 * (@basalt/raft, shared with the simulation): persist (one LevelDB batch, synced when the Ready
 * says so) -> send -> apply -> advance, a leader sending before its own write and a commit-only
 * write riding in the next batch (see write). Proposals and messages that arrive while a batch
 * is being synced pile up in Raft and share the next one. A proposal starts the loop in a later
 * turn (kick: the calls read in one turn share a Ready), a peer's message in its own turn (runLoop).
 *
 * A snapshot of the state is encoded in slices (limits.metaSnapshotSliceVolumes volumes, then a
 * turn of the event loop) while the loop goes on ticking, stepping and sending; entries
 * committed meanwhile wait in `deferred` and are applied after the encode (planApply), so the
 * snapshot is the state at its index. Its pieces go to the log store as they are encoded; the
 * in-memory Raft storage keeps only the snapshot's meta (an empty `data`), and a follower that
 * needs the snapshot gets it read back from the log store (sendStoredSnapshot).
 */
export class RaftHost {
  readonly book: MemberBook;
  private readonly node: RawNode;
  private readonly storage: MemoryStorage;
  private readonly transport: RaftTransport;
  private state: MetaState;
  private conf: ConfState;
  private applied: number;
  /** Size of the deny list last handed to the transport security (maybeSyncRevocations). */
  private revokedSynced = 0;
  private soft: SoftState = { leader: '', role: 'follower' };
  private sinceSnapshot = { entries: 0, bytes: 0 };
  private readonly proposals = new PendingProposals<ApplyResult>();
  private readonly reads: ReadBatcher<MetaState>;
  private loopRunning = false;
  private ticker: NodeJS.Timeout | undefined;
  private closed = false;
  private removed = false;
  private readonly leaderListeners: ((isLeader: boolean) => void)[] = [];
  private hashCache: { applied: number; state: MetaState; hash: string } | undefined;
  /** A commit-only hard state not written yet: it goes with the next write (see write). */
  private unsavedHardState: HardState | undefined;
  /** The tail of the log store's write queue (see storeWrite). */
  private storeWrites: Promise<void> = Promise.resolve();
  /** The local snapshot being encoded (takeSnapshot); `cancelled` when planApply drops it. */
  private encoding: { cancelled: boolean } | undefined;
  /** The running takeSnapshot (encode and store), if any. */
  private snapshotJob: Promise<void> | undefined;
  /** Committed entries handed out while a snapshot was being encoded, in log order, not yet applied. */
  private deferred: Entry[] = [];

  private constructor(private readonly opts: RaftHostOptions, loaded: PersistedLog, storage: MemoryStorage) {
    this.book = new MemberBook(opts.peers);
    this.storage = storage;
    const snapshot = loaded.snapshot;
    this.state = snapshot.meta.index > 0 ? this.restore(snapshot) : MetaState.empty();
    this.conf = storage.initialState().confState;
    this.applied = snapshot.meta.index;
    this.node = new RawNode({
      id: opts.id, storage, electionTick: opts.electionTicks, heartbeatTick: opts.heartbeatTicks,
      preVote: true, checkQuorum: true, announceCommit: false, maxSizePerMsg: limits.raftMaxEntriesBytesPerAppend,
      maxInflightMsgs: limits.raftInflightAppendsMax, maxUncommittedEntriesSize: limits.raftUncommittedBytesMax,
      applied: this.applied, random: Math.random,
    });
    this.transport = new RaftTransport({
      selfId: opts.id, selfAddress: opts.address, cluster: opts.cluster, book: this.book,
      onUnreachable: (id) => this.node.reportUnreachable(id),
      onRefused: (id) => this.leaderRefused(id),
      onSnapshotSent: (id, failed) => { this.node.reportSnapshot(id, failed); this.kick(); },
      sendTimeoutMs: Math.max(opts.requestTimeoutMs, 5_000), security: opts.security,
    });
    this.reads = new ReadBatcher<MetaState>((ctx) => this.startReadRound(ctx));
  }

  /** Loads the member's log (bootstrapping a fresh member of a new cluster) and starts ticking. */
  static async open(opts: RaftHostOptions): Promise<RaftHost> {
    const log = (line: string): void => opts.log(line);
    let loaded = opts.forceNewCluster === true ? await forceNewCluster(opts.store, opts.id, opts.address, log) : await opts.store.load();
    if (isFresh(loaded) && !opts.join) loaded = await bootstrap(opts);
    const storage = new MemoryStorage();
    if (loaded.snapshot.meta.index > 0) storage.applySnapshot(unloaded(loaded.snapshot.meta));
    storage.setHardState(loaded.hardState);
    storage.append(loaded.entries);
    const host = new RaftHost(opts, loaded, storage);
    opts.log(`raft: loaded term ${loaded.hardState.term}, commit ${loaded.hardState.commit}, snapshot ${loaded.snapshot.meta.index}, ${loaded.entries.length} entries`);
    opts.metrics.trackProgress(() => host.status());
    opts.metrics.trackCluster(() => host.readStale((state) => state.clusterCounts()));
    host.ticker = setInterval(() => host.onTick(), opts.tickMs);
    host.kick();
    return host;
  }

  // ------------------------------------------------------------------ API for the service

  /** Proposes a state machine command and resolves with its result once applied here. */
  async propose(cmd: Command): Promise<Result<unknown>> {
    const result = await this.proposeEntry(encodeCommand(cmd), false);
    assert(result !== undefined && !Array.isArray(result), 'a command entry applies to a result');
    return result;
  }

  /** Proposes a membership change; resolves with the members once it is applied. */
  async changeMembers(cc: ConfChange): Promise<MemberInfo[]> {
    const result = await this.proposeEntry(encodeConfChange(cc), true);
    assert(Array.isArray(result), 'a conf change entry applies to the member list');
    return result;
  }

  /** Runs `query` on a state at least as new as every write acknowledged before the call. */
  read<T>(query: (state: MetaState) => T): Promise<T> {
    this.checkServing();
    return this.reads.read(query, performance.now() + this.opts.requestTimeoutMs);
  }

  /** Runs `query` on this member's state now: may be stale. */
  readStale<T>(query: (state: MetaState) => T): T {
    this.checkServing();
    return query(this.state);
  }

  transferLeader(to: string): void {
    this.checkServing();
    const r = this.node.transferLeader(to);
    if (!r.ok && r.reason === 'not_leader') throw this.notLeader();
    if (!r.ok) throw new BasaltError(ErrorCode.InvalidArgument, `cannot transfer leadership to "${to}": ${r.reason}`, { id: to });
    this.kick();
  }

  receive(batch: raftpb.MessageBatch): void {
    if (this.closed) return;
    if (batch.cluster !== this.opts.cluster) {
      throw new BasaltError(ErrorCode.InvalidArgument, `message from cluster "${batch.cluster}", this is "${this.opts.cluster}"`);
    }
    if (batch.fromAddress !== '' && this.book.get(batch.from) === undefined) this.book.set(batch.from, batch.fromAddress);
    for (const p of batch.messages) {
      const m: Message | undefined = messageFromPb(p);
      if (m === undefined || m.to !== this.opts.id) continue;
      this.node.step(m);
    }
    this.runLoop();
  }

  get isLeader(): boolean {
    return this.soft.role === 'leader';
  }

  get isRemoved(): boolean {
    return this.removed;
  }

  onLeadershipChange(listener: (isLeader: boolean) => void): void {
    this.leaderListeners.push(listener);
  }

  members(): MemberInfo[] {
    return this.book.list(this.conf);
  }

  /** The state's digest at the applied index (cached: hashing encodes the whole state). */
  stateHash(): string {
    if (this.hashCache?.applied !== this.applied || this.hashCache.state !== this.state) {
      this.hashCache = { applied: this.applied, state: this.state, hash: this.state.hash() };
    }
    return this.hashCache.hash;
  }

  status(): HostStatus {
    const s = this.node.status();
    const learner = this.conf.learners.includes(this.opts.id);
    return {
      id: this.opts.id, address: this.opts.address,
      role: learner ? 'learner' : roleName(s.softState.role),
      term: s.hardState.term, commitIndex: s.hardState.commit, appliedIndex: this.applied,
      leaderId: s.softState.leader, leaderAddress: this.book.get(s.softState.leader) ?? '',
      snapshotIndex: this.storage.snapshot().meta.index,
      firstLogIndex: this.storage.firstIndex(), lastLogIndex: s.lastIndex,
    };
  }

  /** The error a non-leader answers with: NOT_LEADER and where the leader is, if known. */
  notLeader(): BasaltError {
    const leaderId = this.soft.leader;
    const leaderAddress = leaderId === '' ? '' : (this.book.get(leaderId) ?? '');
    const where = leaderId === '' ? 'no leader is known yet' : `the leader is ${leaderId} at ${leaderAddress || 'an unknown address'}`;
    return new BasaltError(ErrorCode.NotLeader, `member ${this.opts.id} is not the leader: ${where}`, { leaderId, leaderAddress });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker !== undefined) clearInterval(this.ticker);
    const err = new BasaltError(ErrorCode.Closed, `member ${this.opts.id} is shutting down`);
    this.proposals.rejectAll(err);
    this.reads.rejectAll(err);
    this.transport.close();
    while (this.loopRunning) await new Promise((r) => setTimeout(r, 5));
    await this.snapshotJob;
    const hardState = this.unsavedHardState;
    if (hardState !== undefined) void this.storeWrite(() => this.opts.store.save({ entries: [], hardState }, false));
    await this.storeWrites;
    await this.opts.store.close();
  }

  // ------------------------------------------------------------------ the loop

  private onTick(): void {
    this.node.tick();
    const now = performance.now();
    this.proposals.expire(now);
    this.reads.expire(now);
    this.kick();
  }

  /** The transport found `id`'s address refusing connections: if it is our leader, Raft ends its lease and campaigns within a few ticks. */
  private leaderRefused(id: string): void {
    if (this.closed || !this.node.reportLeaderUnreachable(id)) return;
    this.opts.metrics.leaderLossReports.inc();
    this.opts.log(`raft: leader ${id} refuses connections; campaigning early`);
    this.kick();
  }

  /**
   * Starts the loop in a later turn of the event loop, so that everything stepped or proposed in
   * this one (the proposals of many calls read at once) shares its first Ready.
   */
  private kick(): void {
    if (this.loopRunning || this.closed) return;
    this.loopRunning = true;
    setImmediate(() => {
      this.loop().catch((err: unknown) => this.fatal(err));
    });
  }

  /**
   * Starts the loop now, unless it runs: its first Ready is handled in this turn up to its first
   * wait, with no turn of the event loop between a peer's message and what it leads to (a
   * follower's synced write and acknowledgement, the leader's commit, apply and replies).
   */
  private runLoop(): void {
    if (this.loopRunning || this.closed) return;
    this.loopRunning = true;
    this.loop().catch((err: unknown) => this.fatal(err));
  }

  private async loop(): Promise<void> {
    try {
      while (!this.closed && this.node.hasReady()) await this.handleReady(this.node.ready());
    } finally {
      this.loopRunning = false;
    }
  }

  /** Performs the Ready's plan (`planReady`: the order the simulation runs too), awaiting the writes it says to wait for. */
  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState !== undefined) this.onSoftState(rd.softState);
    const steps = planReady(rd, { leader: this.soft.role === 'leader', stored: this.storage.initialState().hardState });
    let written: Promise<void> = Promise.resolve();
    let writeStarted = 0;
    for (const step of steps) {
      switch (step.kind) {
        case 'send':
          this.send(rd.messages);
          break;
        case 'write':
          writeStarted = performance.now();
          written = this.write(rd, step.sync);
          break;
        case 'wait':
          await written;
          if (rd.mustSync) this.opts.metrics.fsyncSeconds.observe((performance.now() - writeStarted) / 1000);
          break;
        case 'store':
          storeReady(this.storage, rd.snapshot === undefined ? rd : { ...rd, snapshot: unloaded(rd.snapshot.meta) });
          break;
        case 'apply':
          this.applyReady(rd);
          break;
        case 'advance':
          this.node.advance(rd);
          break;
      }
    }
    this.afterApply();
    this.maybeSnapshot();
  }

  private afterApply(): void {
    this.reads.serve(this.applied, this.state);
    this.maybeSyncRevocations();
  }

  /** The apply step: now, or after the snapshot being encoded (planApply). */
  private applyReady(rd: Ready): void {
    const plan = planApply(this.encoding !== undefined, rd);
    if (plan === 'cancel') this.endEncoding(true);
    if (plan === 'defer') {
      this.deferred.push(...rd.committedEntries);
    } else {
      if (rd.snapshot !== undefined) this.installSnapshot(rd.snapshot);
      for (const e of rd.committedEntries) this.applyEntry(e);
    }
    for (const rs of rd.readStates) this.reads.onReadState(rs.ctx, rs.index);
  }

  /** The state is no longer read by an encoder: the entries that waited are applied, in order. */
  private endEncoding(cancelled: boolean): void {
    assert(this.encoding !== undefined, 'no snapshot is being encoded');
    this.encoding.cancelled = cancelled;
    this.encoding = undefined;
    const waiting = this.deferred;
    this.deferred = [];
    for (const e of waiting) this.applyEntry(e);
  }

  /**
   * Hands messages to the transport. A snapshot message carries the snapshot Raft's storage
   * holds, which has no data here: its data is read back from the log store and the message
   * sent then. If the store moved on to a newer snapshot meanwhile, Raft hears that this one
   * failed and sends the newer one.
   */
  private send(messages: Message[]): void {
    const now = messages.filter((m) => m.snapshot === undefined || m.snapshot.data.length > 0);
    if (now.length > 0) this.transport.send(now);
    if (now.length === messages.length) return;
    for (const m of messages) if (m.snapshot !== undefined && m.snapshot.data.length === 0) this.sendStoredSnapshot(m, m.snapshot.meta.index);
  }

  private sendStoredSnapshot(m: Message, index: number): void {
    this.storeWrite(() => this.opts.store.readSnapshot()).then((snapshot) => {
      if (this.closed) return;
      if (snapshot.meta.index === index) {
        this.transport.send([{ ...m, snapshot }]);
      } else {
        this.node.reportSnapshot(m.to, true);
        this.kick();
      }
    }, () => undefined);
  }

  /**
   * The `write` step. A Ready that only moves the commit index (not synced, no entries, no
   * snapshot) is not written on its own: its hard state rides in the next write (or close), which
   * spares every member a LevelDB batch per write. It promises nothing: a commit index lost to a
   * crash is re-learned from the leader, and a restart from a snapshot above the stored commit
   * index commits up to the snapshot (the snapshot holds only committed entries).
   */
  private write(rd: Ready, sync: boolean): Promise<void> {
    const hardState = rd.hardState ?? this.unsavedHardState;
    if (!sync && rd.snapshot === undefined && rd.entries.length === 0) {
      this.unsavedHardState = hardState;
      return Promise.resolve();
    }
    this.unsavedHardState = undefined;
    const update = { entries: rd.entries, ...(rd.snapshot && { snapshot: rd.snapshot }), ...(hardState && { hardState }) };
    return this.storeWrite(() => this.opts.store.save(update, sync));
  }

  /**
   * Runs log store writes one after another, in the order they were issued (LevelDB does not
   * order concurrent batches), so a hard state written later always lands later. A failed
   * write is fatal, awaited or not.
   */
  private storeWrite<T>(write: () => Promise<T>): Promise<T> {
    const done = this.storeWrites.then(write);
    this.storeWrites = done.then(() => undefined, (err: unknown) => this.fatal(err));
    return done;
  }

  /** Hands the deny list to this member's own listeners when a revocation was applied (or came in a snapshot). */
  private maybeSyncRevocations(): void {
    const count = this.state.revokedCount();
    if (count === this.revokedSynced) return;
    this.revokedSynced = count;
    this.opts.security.setRevokedSerials(this.state.revokedSerials());
  }

  private applyEntry(e: Entry): void {
    if (e.index <= this.applied) return;
    const result = e.type === 'ConfChange' ? this.applyConfChange(decodeConfChange(e.data)) : this.applyCommand(e.data);
    this.applied = e.index;
    this.sinceSnapshot.entries += 1;
    this.sinceSnapshot.bytes += e.data.length;
    const started = this.proposals.applied(e.index, e.term, result, () => this.notLeader());
    if (started !== undefined) this.opts.metrics.proposalSeconds.observe((performance.now() - started) / 1000);
  }

  private applyCommand(data: Uint8Array): ApplyResult {
    if (data.length === 0) return undefined; // a new leader's empty entry
    return this.state.apply(decodeCommand(data));
  }

  private applyConfChange(cc: ConfChange): MemberInfo[] {
    if (cc.context !== undefined && cc.type !== 'RemoveNode') this.book.set(cc.nodeId, new TextDecoder().decode(cc.context));
    this.conf = this.node.applyConfChange(cc);
    this.opts.log(`raft: applied ${cc.type} ${cc.nodeId}; voters [${this.conf.voters.join(',')}] learners [${this.conf.learners.join(',')}]`);
    if (cc.type === 'RemoveNode' && cc.nodeId === this.opts.id) this.onSelfRemoved();
    return this.members();
  }

  private onSelfRemoved(): void {
    if (this.removed) return;
    this.removed = true;
    this.opts.log(`raft: member ${this.opts.id} was removed from the cluster; it stops serving`);
    setImmediate(() => this.opts.onRemoved());
  }

  private installSnapshot(snapshot: Snapshot): void {
    this.state = this.restore(snapshot);
    this.conf = snapshot.meta.conf;
    this.applied = snapshot.meta.index;
    this.sinceSnapshot = { entries: 0, bytes: 0 };
    this.proposals.coveredBySnapshot(snapshot.meta.index);
    this.opts.log(`raft: installed a snapshot at index ${snapshot.meta.index} (${snapshot.data.length} bytes)`);
  }

  private restore(snapshot: Snapshot): MetaState {
    const data = raftpb.SnapshotData.decode(snapshot.data);
    this.book.loadPb(data.members);
    return MetaState.decodeSnapshot(data.state);
  }

  /** Starts a snapshot when enough was applied since the last one and none is running. */
  private maybeSnapshot(): void {
    const since = this.sinceSnapshot;
    if (this.snapshotJob !== undefined || this.closed) return;
    if (since.entries < this.opts.snapshotEntries && since.bytes < this.opts.snapshotBytes) return;
    const job = this.takeSnapshot().catch((err: unknown) => this.fatal(err));
    this.snapshotJob = job.finally(() => {
      this.snapshotJob = undefined;
    });
  }

  /**
   * Encodes the state at the applied index in slices, with a turn of the event loop after each,
   * writing the pieces to the log store as they come (a batch per limits.metaSnapshotWriteBytes),
   * then commits the snapshot and compacts the log. Entries committed meanwhile wait (applyReady).
   */
  private async takeSnapshot(): Promise<void> {
    const started = performance.now();
    const meta: SnapshotMeta = { index: this.applied, term: this.storage.term(this.applied), conf: { voters: [...this.conf.voters], learners: [...this.conf.learners] } };
    const members = this.book.toPb(this.conf);
    const job = { cancelled: false };
    this.encoding = job;
    this.opts.log(`raft: snapshot at index ${meta.index} started`);
    const sink = this.opts.store.beginSnapshot();
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let stateBytes = 0;
    let slices = 0;
    for (const pieces of this.state.encodeSnapshotPieces(limits.metaSnapshotSliceVolumes)) {
      slices += 1;
      for (const p of pieces) {
        pending.push(p);
        pendingBytes += p.length;
        stateBytes += p.length;
      }
      if (pendingBytes >= limits.metaSnapshotWriteBytes) {
        const batch = pending;
        pending = [];
        pendingBytes = 0;
        await this.storeWrite(() => sink.append(batch));
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (job.cancelled || this.closed) break;
    }
    if (job.cancelled || this.closed) {
      await this.storeWrite(() => sink.abort());
      return;
    }
    this.endEncoding(false);
    this.afterApply();
    this.kick();
    const head = snapshotDataHead(members, stateBytes);
    const bytes = head.length + stateBytes;
    assert(bytes <= limits.metaSnapshotBytesMax, `snapshot of ${bytes} bytes above limits.metaSnapshotBytesMax`);
    const compactIndex = Math.max(0, meta.index - this.opts.snapshotKeepEntries);
    const rest = pending;
    const saved = await this.storeWrite(async () => {
      await sink.append(rest);
      return sink.commit(meta, head, compactIndex);
    });
    if (saved === 'out_of_date' || !this.storage.createSnapshot(meta.index, meta.conf, new Uint8Array(0)).ok) return;
    if (compactIndex >= this.storage.firstIndex()) this.storage.compact(compactIndex);
    this.sinceSnapshot = { entries: this.applied - meta.index, bytes: 0 };
    const seconds = (performance.now() - started) / 1000;
    this.opts.metrics.snapshots.inc();
    this.opts.metrics.snapshotBytes.set(bytes);
    this.opts.metrics.snapshotSeconds.set(seconds);
    this.opts.log(`raft: snapshot at index ${meta.index} (${bytes} bytes in ${slices} slices, ${(seconds * 1000).toFixed(0)} ms), log compacted to ${compactIndex}`);
  }

  private onSoftState(soft: SoftState): void {
    const wasLeader = this.soft.role === 'leader';
    this.soft = soft;
    const isLeader = soft.role === 'leader';
    if (wasLeader && !isLeader) this.reads.abortRounds(this.notLeader());
    if (wasLeader !== isLeader) for (const l of this.leaderListeners) l(isLeader);
    this.opts.log(`raft: ${this.opts.id} is ${soft.role}, leader ${soft.leader || 'unknown'}`);
  }

  private proposeEntry(data: Uint8Array, confChange: boolean): Promise<ApplyResult> {
    this.checkServing();
    if (this.proposals.size >= limits.metaPendingRequestsMax) {
      return Promise.reject(new BasaltError(ErrorCode.Busy, 'too many requests in flight; retry later'));
    }
    const r = confChange ? this.node.proposeConfChange(decodeConfChange(data)) : this.node.propose(data);
    if (!r.ok) return Promise.reject(this.refusal(r));
    this.kick();
    return new Promise<ApplyResult>((resolve, reject) => {
      const deadlineMs = performance.now() + this.opts.requestTimeoutMs;
      this.proposals.add(r.index, r.term, { resolve, reject, deadlineMs }, performance.now());
    });
  }

  private refusal(r: Exclude<ReturnType<RawNode['propose']>, { ok: true }>): BasaltError {
    switch (r.reason) {
      case 'not_leader':
        return this.notLeader();
      case 'dropped':
        return new BasaltError(ErrorCode.Busy, 'a leadership transfer is in progress; retry shortly');
      case 'too_many_uncommitted':
        return new BasaltError(ErrorCode.Busy, 'too many uncommitted proposals; retry later');
      case 'too_large':
        return new BasaltError(ErrorCode.InvalidArgument, `command too large: at most ${r.maxBytes} bytes`);
      case 'conf_change_pending':
        return new BasaltError(ErrorCode.Busy, 'another membership change is in progress; retry when it is applied');
      case 'invalid_conf_change':
        return new BasaltError(ErrorCode.InvalidArgument, `membership change refused: ${r.detail}`);
    }
  }

  private startReadRound(ctx: Uint8Array): BasaltError | undefined {
    if (this.soft.role !== 'leader') return this.notLeader();
    const r = this.node.readIndex(ctx);
    if (!r.ok) return this.notLeader();
    this.kick();
    return undefined;
  }

  private checkServing(): void {
    if (this.closed) throw new BasaltError(ErrorCode.Closed, `member ${this.opts.id} is shutting down`);
    if (this.removed) throw new BasaltError(ErrorCode.MemberNotFound, `member ${this.opts.id} was removed from the cluster`);
  }

  private fatal(err: unknown): void {
    this.opts.log(`raft: fatal error in the Raft loop: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(70);
  }
}

/** A snapshot as Raft's in-memory storage keeps it: the meta only; the data is in the log store. */
function unloaded(meta: SnapshotMeta): Snapshot {
  return { meta, data: new Uint8Array(0) };
}

function roleName(role: SoftState['role']): Role {
  return role === 'pre_candidate' ? 'pre-candidate' : role;
}

function isFresh(log: PersistedLog): boolean {
  return log.hardState.term === 0 && log.entries.length === 0 && log.snapshot.meta.index === 0;
}

/**
 * A new cluster starts from the same first entries on every initial member: one AddNode conf
 * change per member (sorted by id, with its address), committed at term 1, as etcd bootstraps.
 */
async function bootstrap(opts: RaftHostOptions): Promise<PersistedLog> {
  const ids = [...opts.peers.keys()].sort();
  const entries: Entry[] = ids.map((id, i) => ({
    term: 1, index: i + 1, type: 'ConfChange',
    data: encodeConfChange({ type: 'AddNode', nodeId: id, context: new TextEncoder().encode(opts.peers.get(id) ?? '') }),
  }));
  const hardState = { term: 1, vote: '', commit: entries.length };
  await opts.store.save({ entries, hardState }, true);
  opts.log(`raft: bootstrapped a new cluster with members ${ids.join(', ')}`);
  return opts.store.load();
}
