import { describe, expect, it } from 'vitest';
import { MessageType } from '@basalt/raft';
import type { Message } from '@basalt/raft';
import { raftpb } from '@basalt/wire';
import { decodeEntry, decodeHardState, decodeSnapshotRecord, encodeEntry, encodeHardState, encodeSnapshot, messageFromPb, messageToPb, snapshotDataHead } from './raft-codec.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

function viaWire(m: Message): Message | undefined {
  const wire = raftpb.MessageBatch.encode({ from: m.from, cluster: 'c', messages: [messageToPb(m)] }).finish();
  const batch = raftpb.MessageBatch.decode(wire);
  return messageFromPb(batch.messages[0]!);
}

describe('raft-codec', () => {
  it('round-trips every message type through protobuf, with entries, snapshot and context', () => {
    for (const type of Object.values(MessageType)) {
      const m: Message = {
        type, from: 'm1', to: 'm2', term: 2 ** 40, logTerm: 7, index: 2 ** 35 + 3, commit: 12, reject: type.endsWith('Resp'), rejectHint: 4,
        entries: [{ term: 7, index: 2 ** 35 + 4, type: 'Normal', data: bytes('x') }, { term: 7, index: 2 ** 35 + 5, type: 'ConfChange', data: bytes('cc') }],
        context: bytes('ctx'),
        snapshot: { meta: { index: 90, term: 6, conf: { voters: ['m1', 'm2'], learners: ['m3'] } }, data: bytes('state') },
      };
      expect(viaWire(m)).toEqual(m);
    }
  });

  it('leaves optional fields absent when they were', () => {
    const m: Message = { type: 'MsgHeartbeat', from: 'a', to: 'b', term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
    const back = viaWire(m)!;
    expect(back).toEqual(m);
    expect('snapshot' in back).toBe(false);
    expect('context' in back).toBe(false);
  });

  it('refuses a message type it does not know instead of guessing', () => {
    expect(messageFromPb({ type: 99, from: 'a', to: 'b' })).toBeUndefined();
    expect(messageFromPb({ type: 0, entries: [{ type: 7 }] })).toBeUndefined();
    expect(messageFromPb({ type: 0, term: 2 ** 60 })).toBeUndefined();
  });

  it('round-trips stored entries, hard state and snapshots', () => {
    const e = { term: 3, index: 9, type: 'Normal' as const, data: bytes('cmd') };
    expect(decodeEntry(encodeEntry(e))).toEqual(e);
    expect(decodeHardState(encodeHardState({ term: 5, vote: 'm2', commit: 77 }))).toEqual({ term: 5, vote: 'm2', commit: 77 });
    const s = { meta: { index: 10, term: 2, conf: { voters: ['a'], learners: [] } }, data: bytes('img') };
    expect(decodeSnapshotRecord(encodeSnapshot(s))).toEqual(s);
  });

  it('a snapshot head followed by the state is byte for byte the SnapshotData of both', () => {
    const members = [{ id: 'm1', address: '127.0.0.1:1' }, { id: 'm2', address: '127.0.0.1:2' }];
    for (const length of [1, 127, 128, 300_000]) {
      const state = new Uint8Array(length).fill(7);
      const head = snapshotDataHead(members, length);
      const joined = new Uint8Array(head.length + length);
      joined.set(head);
      joined.set(state, head.length);
      expect(joined).toEqual(new Uint8Array(raftpb.SnapshotData.encode({ members, state }).finish()));
      expect(raftpb.SnapshotData.decode(joined).members).toHaveLength(2);
    }
  });
});
