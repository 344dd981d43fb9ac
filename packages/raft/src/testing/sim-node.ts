import { assert, type Prng } from '@basalt/stdx';
import { decodeConfChange } from '../core/conf-change-codec.js';
import type { MemoryStorage } from '../core/memory-storage.js';
import { RawNode } from '../core/raw-node.js';
import { planReady, storeReady, type ReadyStep, type ReadyStepKind } from '../core/ready-driver.js';
import type { ConfChange, ConfState, Entry, Message, NodeId, Ready, Snapshot, Status, UnsafeTestingKnobs } from '../core/types.js';
import type { KvInput, KvOutput } from './kv-model.js';
import { decodeCommand, encodeCommand, KvStateMachine } from './kv-state-machine.js';
import type { EntryRef, LogView, SafetyChecker } from './safety-checker.js';
import { SimDisk } from './sim-disk.js';
import { fingerprint, type Trace } from './trace.js';

/**
 * Where in a Ready's plan (`planReady`) a crash strikes: before one of its
 * steps (`before_wait` after a leader's `send` is the crash between its send
 * and its fsync), in the middle of applying, or after applying with the
 * Ready's messages still in the host's send queue (lost: sending is
 * asynchronous in a real server).
 */
export type CrashPoint = `before_${ReadyStepKind}` | 'mid_apply' | 'unsent';

/** The crash points a Ready with these steps offers. */
export function crashPointsOf(steps: readonly ReadyStep[]): CrashPoint[] {
  return [...steps.map((s): CrashPoint => `before_${s.kind}`), 'mid_apply', 'unsent'];
}

/** A client's request to one node; the node calls exactly one of the callbacks, or none if it crashes. */
export interface ClientRequest {
  readonly requestId: string;
  readonly input: KvInput;
  /** The operation took effect (or the read was served) with this output. */
  respond(output: KvOutput): void;
  /** The operation certainly did not take effect. */
  refuse(reason: string, leaderHint: NodeId): void;
}

/** What a node needs from the simulation around it. */
export interface NodeHost {
  readonly checker: SafetyChecker;
  readonly trace: Trace;
  readonly prng: Prng;
  send(msg: Message): void;
  /** Drawn once per Ready: undefined, or where to crash in it. */
  crashPoint(rd: Ready, isLeader: boolean, steps: readonly ReadyStep[]): CrashPoint | undefined;
  /** Simulated time units a synced write takes (0: done at once); the node goes on stepping meanwhile. */
  fsyncUnits(): number;
  /** Runs `fn` after `units` of simulated time. */
  later(units: number, fn: () => void): void;
  /** The node applied a membership change. */
  confApplied(): void;
  /** The node crashed (its peers may learn so from their transports). */
  crashed(): void;
}

export interface NodeOptions {
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly maxSizePerMsg: number;
  readonly checkQuorum: boolean;
  readonly announceCommit: boolean;
  /** Take a snapshot when this many entries were applied since the last one. */
  readonly snapshotEvery: number;
  /** Entries kept in the log below a new snapshot (for slow followers). */
  readonly keepAfterSnapshot: number;
  readonly knobs?: UnsafeTestingKnobs;
  /** Harness bug on purpose: serve reads from the local state machine without ReadIndex (stale reads). */
  readonly unsafeLocalReads?: boolean;
}

/** The volatile part of a node: lost on a crash, rebuilt from the disk on restart. */
interface Incarnation {
  readonly raw: RawNode;
  readonly storage: MemoryStorage;
  sm: KvStateMachine;
  conf: ConfState;
  term: number;
  leader: boolean;
  applied: number;
  /** Proposals by log index; resolved when that index is applied (ours or another entry). */
  readonly proposals: Map<number, ClientRequest>;
  /** Reads waiting for their ReadState, by ctx. */
  readonly reads: Map<string, ClientRequest>;
  /** Reads with a read index, waiting for applied >= index. */
  waiting: { index: number; req: ClientRequest }[];
  /** The Ready being handled (between ready() and advance()), if any. */
  inReady: ReadyRun | undefined;
}

/** A Ready part way through its plan. */
interface ReadyRun {
  readonly rd: Ready;
  readonly steps: readonly ReadyStep[];
  readonly crashAt: CrashPoint | undefined;
  /** Index of the next step to perform. */
  next: number;
  /** Its messages were handed to the network. */
  sent: boolean;
  /** Its write reached the disk's cache but the sync it needs has not happened. */
  unsynced: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function entryRef(e: Entry): EntryRef {
  return { index: e.index, term: e.term, fp: `${e.type === 'Normal' ? 'N' : 'C'}${fingerprint(e.data)}` };
}

/**
 * One simulated Raft member: a RawNode over a MemoryStorage, a durable SimDisk
 * and the key-value state machine, driven through the Ready loop in the order
 * the metadata service uses (`planReady`), with a synced write taking
 * simulated time while the node goes on stepping, and crashes between the steps.
 */
export class SimNode {
  readonly disk: SimDisk;
  private life: Incarnation | undefined;
  snapshotsInstalled = 0;
  /** Crashes that struck after a Ready's messages left and before its write was synced. */
  crashesSentUnsynced = 0;

  constructor(readonly id: NodeId, initialConf: ConfState, private readonly opts: NodeOptions, private readonly host: NodeHost) {
    this.disk = new SimDisk(initialConf);
    this.life = this.boot();
  }

  get alive(): boolean {
    return this.life !== undefined;
  }

  private boot(): Incarnation {
    const { storage, snapshot } = this.disk.load();
    const raw = new RawNode({
      id: this.id,
      storage,
      electionTick: this.opts.electionTick,
      heartbeatTick: this.opts.heartbeatTick,
      preVote: true,
      checkQuorum: this.opts.checkQuorum,
      announceCommit: this.opts.announceCommit,
      maxSizePerMsg: this.opts.maxSizePerMsg,
      maxInflightMsgs: 8,
      maxUncommittedEntriesSize: 1 << 20,
      applied: snapshot.meta.index,
      random: () => this.host.prng.float(),
      ...(this.opts.knobs === undefined ? {} : { unsafeTestingKnobs: this.opts.knobs }),
    });
    return {
      raw,
      storage,
      sm: KvStateMachine.decode(snapshot.data),
      conf: snapshot.meta.conf,
      term: storage.initialState().hardState.term,
      leader: false,
      applied: snapshot.meta.index,
      proposals: new Map(),
      reads: new Map(),
      waiting: [],
      inReady: undefined,
    };
  }

  status(): Status | undefined {
    return this.life?.raw.status();
  }

  crash(why: string): void {
    if (this.life === undefined) return;
    const run = this.life.inReady;
    const sentUnsynced = run !== undefined && run.sent && (run.unsynced || run.steps.slice(run.next).some((s) => s.kind === 'write' && s.sync));
    if (sentUnsynced) this.crashesSentUnsynced++;
    const unsyncedNote = sentUnsynced ? ` (${this.life.leader ? 'leader ' : ''}sent, not synced)` : '';
    this.host.trace.record(`crash ${this.id} ${why}${unsyncedNote}`);
    this.life = undefined;
    this.disk.crash(this.host.prng.int(0, this.disk.cachedWrites));
    this.host.crashed();
  }

  restart(): void {
    if (this.life !== undefined) return;
    this.host.trace.record(`restart ${this.id}`);
    this.life = this.boot();
    this.host.checker.nodeRestarted(this.id);
  }

  tick(): void {
    this.life?.raw.tick();
    this.processReady();
  }

  receive(msg: Message): void {
    const life = this.life;
    if (life === undefined) return;
    life.raw.step(msg);
    this.processReady();
  }

  transferLeader(to: NodeId): void {
    const result = this.life?.raw.transferLeader(to);
    this.host.trace.record(`transfer ${this.id}->${to} ${result?.ok === true ? 'ok' : (result?.reason ?? 'down')}`);
    this.processReady();
  }

  /** The transport's report that `leader` is unreachable (true or false). */
  reportLeaderUnreachable(leader: NodeId): void {
    this.life?.raw.reportLeaderUnreachable(leader);
    this.processReady();
  }

  reportSnapshot(to: NodeId, failed: boolean): void {
    this.life?.raw.reportSnapshot(to, failed);
    this.processReady();
  }

  /** Proposes a membership change; returns why not, or undefined if appended. */
  proposeConfChange(cc: ConfChange): string | undefined {
    const result = this.life?.raw.proposeConfChange(cc);
    this.host.trace.record(`confchange ${this.id} ${cc.type} ${cc.nodeId} ${result?.ok === true ? `at ${result.index}` : (result?.reason ?? 'down')}`);
    this.processReady();
    return result === undefined ? 'down' : result.ok ? undefined : result.reason;
  }

  /** Proposes an entry no client waits for (the calm probes' last write before a transfer). */
  proposeFiller(): void {
    this.life?.raw.propose(encodeCommand({ requestId: 'probe', input: { kind: 'write', key: 'probe', value: 'filler' } }));
    this.processReady();
  }

  /** A client's operation; reads go through ReadIndex, writes and cas through the log. */
  submit(req: ClientRequest): void {
    const life = this.life;
    if (life === undefined) {
      req.refuse('down', '');
      return;
    }
    if (req.input.kind === 'read' && this.opts.unsafeLocalReads === true) {
      req.respond({ kind: 'read', value: life.sm.get(req.input.key) });
    } else if (req.input.kind === 'read') {
      const result = life.raw.readIndex(encoder.encode(req.requestId));
      if (result.ok) life.reads.set(req.requestId, req);
      else req.refuse(result.reason, result.leaderHint);
    } else {
      const result = life.raw.propose(encodeCommand({ requestId: req.requestId, input: req.input }));
      if (result.ok) life.proposals.set(result.index, req);
      else req.refuse(result.reason, result.reason === 'not_leader' ? result.leaderHint : '');
    }
    this.processReady();
  }

  /** Runs the Ready loop until the node has nothing to do, waits for its disk, or crashes. */
  processReady(): void {
    for (let life = this.life; life !== undefined && life.inReady === undefined && life.raw.hasReady(); life = this.life) {
      const rd = life.raw.ready();
      this.observeRoles(life, rd);
      const stored = life.storage.initialState().hardState;
      const steps = planReady(rd, { leader: life.leader, stored, ...(this.opts.knobs === undefined ? {} : { knobs: this.opts.knobs }) });
      const crashAt = this.host.crashPoint(rd, life.leader, steps);
      life.inReady = { rd, steps, crashAt, next: 0, sent: false, unsynced: false };
      this.runSteps(life);
    }
  }

  /** Performs the current Ready's steps until it is done, waits for the disk, or crashes. */
  private runSteps(life: Incarnation): void {
    const run = life.inReady;
    assert(run !== undefined, 'runSteps without a Ready');
    for (let step = run.steps[run.next]; step !== undefined; step = run.steps[run.next]) {
      if (run.crashAt === `before_${step.kind}`) return this.crash(run.crashAt);
      run.next++;
      switch (step.kind) {
        case 'send':
          if (run.crashAt !== 'unsent') for (const m of run.rd.messages) this.host.send(m);
          run.sent = true;
          break;
        case 'write':
          this.write(run.rd, step.sync);
          run.unsynced = step.sync;
          break;
        case 'wait':
          if (this.waitForDisk(life, run)) return;
          break;
        case 'store':
          this.store(life, run.rd);
          break;
        case 'apply':
          if (!this.applyReady(life, run)) return;
          break;
        case 'advance':
          life.raw.advance(run.rd);
          this.serveReads(life);
          this.maybeSnapshot(life);
          break;
      }
    }
    life.inReady = undefined;
  }

  /** The `wait` step: syncs the write, after a drawn delay; true if the Ready goes on later. */
  private waitForDisk(life: Incarnation, run: ReadyRun): boolean {
    const units = run.unsynced ? this.host.fsyncUnits() : 0;
    const synced = (): void => {
      if (run.unsynced) this.disk.sync();
      run.unsynced = false;
    };
    if (units === 0) {
      synced();
      return false;
    }
    this.host.later(units, () => {
      if (this.life !== life) return;
      synced();
      this.runSteps(life);
      this.processReady();
    });
    return true;
  }

  /** The `apply` step; false if the node crashed in it. */
  private applyReady(life: Incarnation, run: ReadyRun): boolean {
    const rd = run.rd;
    if (rd.snapshot !== undefined) this.installSnapshot(life, rd.snapshot);
    const stopAt = run.crashAt === 'mid_apply' ? this.host.prng.int(0, rd.committedEntries.length) : Infinity;
    for (const [i, e] of rd.committedEntries.entries()) {
      if (i === stopAt) {
        this.crash('mid_apply');
        return false;
      }
      this.applyEntry(life, e);
    }
    if (run.crashAt === 'unsent') {
      this.crash('unsent');
      return false;
    }
    for (const rs of rd.readStates) this.readReady(life, rs.index, decoder.decode(rs.ctx));
    return true;
  }

  private observeRoles(life: Incarnation, rd: Ready): void {
    if (rd.hardState !== undefined) life.term = rd.hardState.term;
    if (rd.softState !== undefined) {
      life.leader = rd.softState.role === 'leader';
      this.host.trace.record(`role ${this.id} ${rd.softState.role} term ${life.term} leader ${rd.softState.leader}`);
      if (rd.softState.role === 'leader') this.host.checker.leaderElected(this.id, life.term);
    }
  }

  /** The `write` step: the batch goes to the disk; from now on this node holds its entries. */
  private write(rd: Ready, sync: boolean): void {
    this.disk.write(rd);
    const checker = this.host.checker;
    checker.entriesPersisted(this.id, rd.entries.map(entryRef));
    if (rd.hardState !== undefined) checker.commitKnown(this.id, rd.hardState.term, rd.hardState.commit);
    this.host.trace.record(`write ${this.id} entries ${rd.entries.length}${sync ? ' sync' : ''}`);
  }

  private store(life: Incarnation, rd: Ready): void {
    storeReady(life.storage, rd);
    const view = rd.softState?.role === 'leader' ? this.logView() : undefined;
    if (view !== undefined) this.host.checker.leaderLog(life.term, view, life.storage.firstIndex() - 1);
  }

  private installSnapshot(life: Incarnation, snap: Snapshot): void {
    this.snapshotsInstalled++;
    this.host.trace.record(`install ${this.id} snapshot ${snap.meta.index}/${snap.meta.term}`);
    life.sm = KvStateMachine.decode(snap.data);
    life.conf = snap.meta.conf;
    life.applied = snap.meta.index;
    for (const index of [...life.proposals.keys()]) {
      // Its fate is inside the snapshot, which we cannot read: the client will time out.
      if (index <= snap.meta.index) life.proposals.delete(index);
    }
  }

  private applyEntry(life: Incarnation, e: Entry): void {
    this.host.checker.entryApplied(this.id, entryRef(e));
    life.applied = e.index;
    const pending = life.proposals.get(e.index);
    life.proposals.delete(e.index);
    if (e.type === 'ConfChange') {
      life.conf = life.raw.applyConfChange(decodeConfChange(e.data));
      this.host.trace.record(`conf ${this.id} at ${e.index} voters ${life.conf.voters.join(',')} learners ${life.conf.learners.join(',')}`);
      this.host.confApplied();
      pending?.refuse('overwritten', '');
      return;
    }
    if (e.data.length === 0) {
      pending?.refuse('overwritten', '');
      return;
    }
    const cmd = decodeCommand(e.data);
    const output = life.sm.apply(cmd.input);
    if (pending === undefined) return;
    if (pending.requestId === cmd.requestId) pending.respond(output);
    else pending.refuse('overwritten', '');
  }

  private readReady(life: Incarnation, index: number, ctx: string): void {
    const req = life.reads.get(ctx);
    if (req === undefined) return;
    life.reads.delete(ctx);
    life.waiting.push({ index, req });
  }

  private serveReads(life: Incarnation): void {
    const still: { index: number; req: ClientRequest }[] = [];
    for (const w of life.waiting) {
      if (w.index > life.applied) still.push(w);
      else w.req.respond({ kind: 'read', value: life.sm.get(w.req.input.key) });
    }
    life.waiting = still;
  }

  private maybeSnapshot(life: Incarnation): void {
    const last = life.storage.snapshot().meta.index;
    if (life.applied - last < this.opts.snapshotEvery) return;
    const created = life.storage.createSnapshot(life.applied, life.conf, life.sm.encode());
    if (!created.ok) return;
    const compactIndex = life.applied - this.opts.keepAfterSnapshot;
    if (compactIndex >= life.storage.firstIndex()) life.storage.compact(compactIndex);
    this.disk.saveSnapshot(created.snapshot, Math.max(compactIndex, 0));
    this.host.trace.record(`snapshot ${this.id} at ${life.applied} compact ${compactIndex}`);
  }

  /** The node's stored log, for the log matching checker; undefined when down. */
  logView(): LogView | undefined {
    const storage = this.life?.storage;
    if (storage === undefined) return undefined;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    const entries = last < first ? [] : storage.entries(first, last + 1, Infinity).map(entryRef);
    return { node: this.id, entries };
  }
}
