/**
 * A tiny deterministic network for the core's scenario tests (not the randomized
 * simulator: no faults beyond what a test sets up by hand). Messages are delivered in
 * FIFO order by `stabilize()`; a test may drop messages with `cut`/`isolate`/`filter`.
 * Each node's "disk" is a MemoryStorage that Ready processing writes before sending.
 */
import { Prng, assert, limits } from '@basalt/stdx';
import { decodeConfChange } from './conf-change-codec.js';
import { MemoryStorage } from './memory-storage.js';
import { RawNode } from './raw-node.js';
import type { Config, ConfState, Entry, Message, NodeId, ReadState, Ready } from './types.js';

export interface TestNode {
  id: NodeId;
  node: RawNode;
  storage: MemoryStorage;
  /** Data of applied Normal entries (non-empty), in order: the replicated state machine. */
  applied: string[];
  /** Every committed entry applied, including empty ones and conf changes. */
  appliedEntries: Entry[];
  readStates: ReadState[];
  conf: ConfState;
  /** Number of Ready batches that needed an fsync. */
  syncs: number;
  cfg: Config;
}

export type NetConfig = Partial<Omit<Config, 'id' | 'storage' | 'random' | 'applied'>>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

/** A message with zero values for every field the test does not set. */
export function msg(m: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message {
  return { logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...m };
}

export class TestNetwork {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  /** Every message that went on the wire (delivered or dropped), for assertions. */
  sent: Message[] = [];
  /** Return false to drop a message. */
  filter: (m: Message) => boolean = () => true;
  private readonly cuts = new Set<string>();
  private readonly prng: Prng;

  constructor(
    voters: NodeId[],
    readonly netConfig: NetConfig = {},
    seed = 1,
    learners: NodeId[] = [],
  ) {
    this.prng = new Prng(seed);
    for (const id of [...voters, ...learners]) this.add(id, MemoryStorage.withConf({ voters, learners }));
  }

  /** Starts a node on `storage` (a fresh joiner gets an empty conf and waits for the leader). */
  add(id: NodeId, storage: MemoryStorage, applied = 0): TestNode {
    const cfg: Config = {
      id,
      storage,
      electionTick: 10,
      heartbeatTick: 1,
      preVote: false,
      checkQuorum: false,
      maxSizePerMsg: limits.raftMaxEntriesBytesPerAppend,
      maxInflightMsgs: limits.raftInflightAppendsMax,
      maxUncommittedEntriesSize: limits.raftUncommittedBytesMax,
      applied,
      random: () => this.prng.float(),
      ...this.netConfig,
    };
    const snap = storage.snapshot();
    const tn: TestNode = {
      id,
      node: new RawNode(cfg),
      storage,
      applied: stateOf(snap.data),
      appliedEntries: [],
      readStates: [],
      conf: storage.initialState().confState,
      syncs: 0,
      cfg,
    };
    this.nodes.set(id, tn);
    return tn;
  }

  get(id: NodeId): TestNode {
    const tn = this.nodes.get(id);
    assert(tn !== undefined, `no node ${id}`);
    return tn;
  }

  /** Crash: the node loses everything but its storage, then restarts from it. */
  restart(id: NodeId): TestNode {
    const old = this.get(id);
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
    return this.add(id, old.storage);
  }

  remove(id: NodeId): void {
    this.nodes.delete(id);
  }

  /** Drops messages between a and b, both ways. */
  cut(a: NodeId, b: NodeId): void {
    this.cuts.add(`${a}>${b}`);
    this.cuts.add(`${b}>${a}`);
  }

  /** Drops messages from a to b only. */
  cutOneWay(from: NodeId, to: NodeId): void {
    this.cuts.add(`${from}>${to}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  heal(): void {
    this.cuts.clear();
    this.filter = () => true;
  }

  /** Handles one node's Ready the way a real caller must: persist, send, apply, advance. */
  processReady(id: NodeId): Ready | undefined {
    const tn = this.get(id);
    if (!tn.node.hasReady()) return undefined;
    const rd = tn.node.ready();
    this.persist(tn, rd);
    for (const m of rd.messages) {
      this.sent.push(m);
      if (this.nodes.has(m.to) && !this.cuts.has(`${m.from}>${m.to}`) && this.filter(m)) this.queue.push(m);
    }
    this.apply(tn, rd);
    tn.node.advance(rd);
    return rd;
  }

  private persist(tn: TestNode, rd: Ready): void {
    if (rd.snapshot !== undefined) {
      const res = tn.storage.applySnapshot(rd.snapshot);
      assert(res.ok, 'snapshot from a Ready is newer than storage');
    }
    tn.storage.append(rd.entries);
    if (rd.hardState !== undefined) tn.storage.setHardState(rd.hardState);
    if (rd.mustSync) tn.syncs++;
  }

  private apply(tn: TestNode, rd: Ready): void {
    if (rd.snapshot !== undefined) {
      tn.applied = stateOf(rd.snapshot.data);
      tn.conf = rd.snapshot.meta.conf;
    }
    for (const e of rd.committedEntries) {
      tn.appliedEntries.push(e);
      if (e.type === 'ConfChange') tn.conf = tn.node.applyConfChange(decodeConfChange(e.data));
      else if (e.data.length > 0) tn.applied.push(decoder.decode(e.data));
    }
    tn.readStates.push(...rd.readStates);
  }

  /** Processes Readys and delivers messages until nothing is left (bounded). Returns messages delivered. */
  stabilize(maxRounds = 10_000): number {
    let delivered = 0;
    for (let round = 0; round < maxRounds; round++) {
      let progressed = false;
      for (const id of this.nodes.keys()) if (this.processReady(id) !== undefined) progressed = true;
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        const tn = this.nodes.get(m.to);
        if (tn === undefined) continue;
        tn.node.step(m);
        delivered++;
        progressed = true;
      }
      if (!progressed) return delivered;
    }
    assert(false, `network did not settle in ${maxRounds} rounds`);
  }

  /** Ticks every node `n` times, stabilizing after each tick. */
  tickAll(n: number): void {
    for (let i = 0; i < n; i++) {
      for (const tn of this.nodes.values()) tn.node.tick();
      this.stabilize();
    }
  }

  /** Makes `id` campaign and settles. */
  elect(id: NodeId): void {
    this.get(id).node.campaign();
    this.stabilize();
    assert(this.get(id).node.status().softState.role === 'leader', `${id} did not win the election`);
  }

  /** Proposes on `id` and settles; asserts the proposal was accepted. */
  propose(id: NodeId, data: string): number {
    const res = this.get(id).node.propose(bytes(data));
    assert(res.ok, `proposal refused: ${JSON.stringify(res)}`);
    this.stabilize();
    return res.index;
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((tn) => tn.node.status().softState.role === 'leader').map((tn) => tn.id);
  }

  /** Snapshots `id`'s state machine at its applied index and compacts its log up to there. */
  compact(id: NodeId): number {
    const tn = this.get(id);
    const applied = tn.node.status().applied;
    const created = tn.storage.createSnapshot(applied, tn.conf, bytes(JSON.stringify(tn.applied)));
    assert(created.ok, 'snapshot out of date');
    const compacted = tn.storage.compact(applied);
    assert(compacted.ok, 'compaction out of date');
    return applied;
  }
}

/** The state machine image in a snapshot (empty data: the bootstrap snapshot, an empty state). */
function stateOf(data: Uint8Array): string[] {
  return data.length === 0 ? [] : (JSON.parse(decoder.decode(data)) as string[]);
}

/** The full log of a node's storage (after its snapshot), as [term, index] pairs. */
export function logOf(tn: TestNode): [number, number][] {
  const first = tn.storage.firstIndex();
  const last = tn.storage.lastIndex();
  if (last < first) return [];
  return tn.storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER).map((e) => [e.term, e.index]);
}
