import { assert } from '@basalt/stdx';
import { EntryType, MessageType } from '@basalt/raft';
import type { ConfState, Entry, HardState, Message, Snapshot } from '@basalt/raft';
import { raftpb } from '@basalt/wire';

/**
 * Maps the Raft core's plain data onto proto/raft.proto and back. Enums travel as their
 * position in these tables: append new names, never reorder.
 */
const messageTypes: readonly MessageType[] = [
  MessageType.MsgApp, MessageType.MsgAppResp, MessageType.MsgVote, MessageType.MsgVoteResp,
  MessageType.MsgPreVote, MessageType.MsgPreVoteResp, MessageType.MsgSnap, MessageType.MsgHeartbeat,
  MessageType.MsgHeartbeatResp, MessageType.MsgReadIndex, MessageType.MsgReadIndexResp, MessageType.MsgTimeoutNow,
];
const entryTypes: readonly EntryType[] = [EntryType.Normal, EntryType.ConfChange];

const messageCode = new Map(messageTypes.map((t, i) => [t, i]));
const entryCode = new Map(entryTypes.map((t, i) => [t, i]));

export function messageToPb(m: Message): raftpb.IMessage {
  const out: raftpb.IMessage = {
    type: messageCode.get(m.type), from: m.from, to: m.to, term: m.term, logTerm: m.logTerm, index: m.index,
    entries: m.entries.map(entryToPb), commit: m.commit, reject: m.reject, rejectHint: m.rejectHint,
  };
  if (m.snapshot !== undefined) out.snapshot = snapshotToPb(m.snapshot);
  if (m.context !== undefined) out.context = m.context;
  return out;
}

/** A message from the network: undefined for one this version cannot read (unknown type, unsafe numbers). */
export function messageFromPb(p: raftpb.IMessage): Message | undefined {
  const type = messageTypes[p.type ?? 0];
  if (type === undefined) return undefined;
  const entries: Entry[] = [];
  for (const e of p.entries ?? []) {
    const entry = entryFromPbChecked(e);
    if (entry === undefined) return undefined;
    entries.push(entry);
  }
  const m: Message = {
    type, from: p.from ?? '', to: p.to ?? '', term: p.term ?? 0, logTerm: p.logTerm ?? 0, index: p.index ?? 0, entries,
    commit: p.commit ?? 0, reject: p.reject ?? false, rejectHint: p.rejectHint ?? 0,
  };
  if (![m.term, m.logTerm, m.index, m.commit, m.rejectHint].every(Number.isSafeInteger)) return undefined;
  if (p.snapshot != null) m.snapshot = snapshotFromPb(p.snapshot);
  if (p.context != null) m.context = view(p.context);
  return m;
}

export function entryToPb(e: Entry): raftpb.IEntry {
  return { term: e.term, index: e.index, type: entryCode.get(e.type), data: e.data };
}

function entryFromPbChecked(p: raftpb.IEntry): Entry | undefined {
  const type = entryTypes[p.type ?? 0];
  if (type === undefined || !Number.isSafeInteger(p.term ?? 0) || !Number.isSafeInteger(p.index ?? 0)) return undefined;
  return { term: p.term ?? 0, index: p.index ?? 0, type, data: view(p.data ?? new Uint8Array(0)) };
}

export function encodeEntry(e: Entry): Uint8Array {
  return raftpb.Entry.encode(entryToPb(e)).finish();
}

/** Entries come from our own disk: an unreadable one is corruption, reported by the caller. */
export function decodeEntry(bytes: Uint8Array): Entry | undefined {
  return entryFromPbChecked(raftpb.Entry.decode(bytes));
}

export function snapshotToPb(s: Snapshot): raftpb.ISnapshot {
  return { meta: { index: s.meta.index, term: s.meta.term, conf: confToPb(s.meta.conf) }, data: s.data };
}

export function snapshotFromPb(p: raftpb.ISnapshot): Snapshot {
  const meta = p.meta ?? {};
  return { meta: { index: meta.index ?? 0, term: meta.term ?? 0, conf: confFromPb(meta.conf ?? undefined) }, data: view(p.data ?? new Uint8Array(0)) };
}

export function encodeSnapshot(s: Snapshot): Uint8Array {
  return raftpb.Snapshot.encode(snapshotToPb(s)).finish();
}

export function decodeSnapshotRecord(bytes: Uint8Array): Snapshot {
  return snapshotFromPb(raftpb.Snapshot.decode(bytes));
}

/**
 * The bytes of raftpb.SnapshotData up to its state's bytes: the members, then the state field's
 * tag and length. Followed by the `stateBytes` bytes of the state, they are exactly
 * `SnapshotData.encode({ members, state })`, without the state ever being copied into it.
 */
export function snapshotDataHead(members: raftpb.IMemberAddress[], stateBytes: number): Uint8Array {
  return raftpb.SnapshotData.encode({ members }).uint32(snapshotStateTag).uint32(stateBytes).finish();
}

/** Field 2 (`state`, length-delimited) of raftpb.SnapshotData. */
const snapshotStateTag = (2 << 3) | 2;

export function encodeHardState(hs: HardState): Uint8Array {
  return raftpb.HardState.encode({ term: hs.term, vote: hs.vote, commit: hs.commit }).finish();
}

export function decodeHardState(bytes: Uint8Array): HardState {
  const p = raftpb.HardState.decode(bytes);
  return { term: p.term, vote: p.vote, commit: p.commit };
}

/** protobufjs decodes bytes as Buffers in Node; the core's data is plain Uint8Array (a view, no copy). */
function view(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function confToPb(c: ConfState): raftpb.IConfState {
  return { voters: [...c.voters], learners: [...c.learners] };
}

function confFromPb(c: raftpb.IConfState | undefined): ConfState {
  return { voters: [...(c?.voters ?? [])], learners: [...(c?.learners ?? [])] };
}

assert(messageTypes.length === Object.keys(MessageType).length, 'raft-codec: a message type has no code');
assert(entryTypes.length === Object.keys(EntryType).length, 'raft-codec: an entry type has no code');
