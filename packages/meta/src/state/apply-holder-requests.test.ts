import { AssertionError, ErrorCode, limits, MiB } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import { MetaState } from './meta-state.js';
import { must, refuse, threeZoneState } from './test-fixtures.js';

/** Volume v with two allocated extents, its writer lease held by `agent-1`. */
function heldVolume(): MetaState {
  const state = threeZoneState();
  must(state, { type: 'createVolume', name: 'v', sizeBytes: 4 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 3, nowMs: 1 });
  must(state, { type: 'allocateExtent', name: 'v', index: 0 });
  must(state, { type: 'allocateExtent', name: 'v', index: 2 });
  must(state, { type: 'acquireLease', name: 'v', clientId: 'agent-1', force: false, nowMs: 2 });
  return state;
}

/** The state after a leader change: encoded, decoded (with every invariant checked), as a new leader loads it. */
function roundTrip(state: MetaState): MetaState {
  const next = MetaState.decodeSnapshot(state.encodeSnapshot());
  expect(next.hash()).toBe(state.hash());
  return next;
}

/** The encoded state with `edit` applied to its JSON. */
function edited(state: MetaState, edit: (root: { volumes: unknown[][] }) => void): Uint8Array {
  const root = JSON.parse(new TextDecoder().decode(state.encodeSnapshot())) as { volumes: unknown[][] };
  edit(root);
  return new TextEncoder().encode(JSON.stringify(root));
}

const ask = (snapshot: string, nowMs = 10) => ({ type: 'requestSnapshot', name: 'v', snapshot, requestedBy: 'admin/ops', nowMs }) as const;

describe('requests to the lease holder in metad', () => {
  it('records a requested snapshot without an id; the holder takes it, and it goes on as any snapshot', () => {
    const state = heldVolume();
    const asked = must(state, ask('s1'));
    expect(asked).toMatchObject({ name: 's1', id: 0, state: 'requested', requestedBy: 'admin/ops', extents: [], createdAtMs: 10 });
    expect(state.getVolume('v')).toMatchObject({ ok: true, value: { requestedSnapshots: ['s1'] } });
    // Asking again returns the same request; a plain create of that name is refused; so is a commit of it.
    expect(must(state, ask('s1', 11)).createdAtMs).toBe(10);
    refuse(state, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 12 }, ErrorCode.SnapshotExists);
    refuse(state, { type: 'commitSnapshot', name: 'v', snapshot: 's1' }, ErrorCode.SnapshotNotFound);
    refuse(state, { type: 'cloneVolume', name: 'v', snapshot: 's1', clone: 'c', nowMs: 12 }, ErrorCode.SnapshotNotFound);

    const taken = must(state, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 13, requested: true });
    expect(taken).toMatchObject({ id: 1, state: 'creating', requestedBy: '', extents: [0, 2], sizeBytes: 4 * MiB });
    expect(state.getVolume('v')).toMatchObject({ ok: true, value: { requestedSnapshots: [] } });
    expect(must(state, { type: 'commitSnapshot', name: 'v', snapshot: 's1' }).state).toBe('ready');
    state.checkInvariants();
  });

  it('a cancelled request is gone: a late holder takes nothing, and a taken one can no longer be cancelled', () => {
    const state = heldVolume();
    must(state, ask('s1'));
    expect(must(state, { type: 'deleteSnapshot', name: 'v', snapshot: 's1', requested: true }).removed).toBe(true);
    refuse(state, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 12, requested: true }, ErrorCode.SnapshotNotFound);
    expect(state.listSnapshots('v')).toEqual({ ok: true, value: [] });

    must(state, ask('s2'));
    must(state, { type: 'createSnapshot', name: 'v', snapshot: 's2', nowMs: 13, requested: true });
    refuse(state, { type: 'deleteSnapshot', name: 'v', snapshot: 's2', requested: true }, ErrorCode.CompareFailed);
    // The holder's own snapshots do not answer a request that was never filed.
    refuse(state, { type: 'createSnapshot', name: 'v', snapshot: 's3', nowMs: 14, requested: true }, ErrorCode.SnapshotNotFound);
  });

  it('asks only a volume that has a lease holder, and at most snapshotRequestsPerVolumeMax at once', () => {
    const state = heldVolume();
    must(state, { type: 'createVolume', name: 'free', sizeBytes: 4 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 3, nowMs: 1 });
    refuse(state, { ...ask('s1'), name: 'free' }, ErrorCode.NoLeaseHolder);
    for (let i = 0; i < limits.snapshotRequestsPerVolumeMax; i++) must(state, ask(`r${i}`, 10 + i));
    refuse(state, ask('one-more'), ErrorCode.LimitExceeded);
    expect(roundTrip(state).getVolume('v')).toMatchObject({ ok: true, value: { requestedSnapshots: Array.from({ length: limits.snapshotRequestsPerVolumeMax }, (_, i) => `r${i}`) } });
  });

  it('a flatten request sits on the clone with the holder progress; a fenced holder and a withdrawn request are refused; FlattenVolume ends it', () => {
    const state = heldVolume();
    must(state, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 5 });
    must(state, { type: 'commitSnapshot', name: 'v', snapshot: 's1' });
    must(state, { type: 'cloneVolume', name: 'v', snapshot: 's1', clone: 'c', nowMs: 6 });
    const flattenOf = { type: 'requestFlatten', name: 'c', requestedBy: 'admin/ops', bytesPerSec: 1 * MiB, nowMs: 7 } as const;
    refuse(state, flattenOf, ErrorCode.NoLeaseHolder);
    const lease = must(state, { type: 'acquireLease', name: 'c', clientId: 'agent-2', force: false, nowMs: 7 });
    refuse(state, { ...flattenOf, name: 'v' }, ErrorCode.InvalidArgument);
    expect(must(state, flattenOf).flatten).toEqual({ requestedBy: 'admin/ops', requestedAtMs: 7, bytesPerSec: 1 * MiB, doneBytes: 0, totalBytes: 0 });
    const report = { type: 'reportFlatten', name: 'c', generation: lease.generation, doneBytes: 1 * MiB, totalBytes: 4 * MiB } as const;
    expect(must(state, report).flatten).toMatchObject({ doneBytes: 1 * MiB, totalBytes: 4 * MiB });
    refuse(state, { ...report, generation: lease.generation + 1 }, ErrorCode.LeaseFenced);
    refuse(state, { ...report, doneBytes: 5 * MiB }, ErrorCode.InvalidArgument);
    // A leader change keeps the request and its progress.
    const next = roundTrip(state);
    expect(next.getVolume('c')).toMatchObject({ ok: true, value: { flatten: { doneBytes: 1 * MiB, totalBytes: 4 * MiB, bytesPerSec: 1 * MiB } } });
    must(next, { ...flattenOf, cancel: true });
    refuse(next, report, ErrorCode.InvalidArgument);
    must(next, flattenOf);
    expect(must(next, { type: 'flattenVolume', name: 'c' })).toMatchObject({ parent: null, flatten: null });
    next.checkInvariants();
  });

  it('requests survive a leader change: a requested snapshot is served by the new leader as by the old', () => {
    const state = heldVolume();
    must(state, ask('s1'));
    const next = roundTrip(state);
    expect(next.listSnapshots('v')).toMatchObject({ ok: true, value: [{ name: 's1', state: 'requested', requestedBy: 'admin/ops', id: 0 }] });
    expect(must(next, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 20, requested: true }).id).toBe(1);
  });

  it('a state without requests encodes as before, and one that breaks a request invariant does not load', () => {
    const plain = heldVolume();
    must(plain, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 5 });
    const extras = JSON.parse(new TextDecoder().decode(plain.encodeSnapshot())).volumes[0][10] as { s: [number, unknown, unknown[][]] };
    expect(extras.s[2][0]).toHaveLength(8);
    expect(extras.s[1]).toBeNull();

    const state = heldVolume();
    must(state, ask('s1'));
    const snapshotTuple = (root: { volumes: unknown[][] }) => ((root.volumes[0]![10] as { s: [number, unknown, unknown[][]] }).s[2][0]!);
    // A requested snapshot that holds an id, or a taken one that still names a requester.
    expect(() => MetaState.decodeSnapshot(edited(state, (root) => { snapshotTuple(root)[0] = 1; }))).toThrow(AssertionError);
    expect(() => MetaState.decodeSnapshot(edited(state, (root) => { snapshotTuple(root)[3] = 'ready'; }))).toThrow(/names a requester/);
    expect(() => MetaState.decodeSnapshot(edited(state, (root) => { snapshotTuple(root)[3] = 'asked'; }))).toThrow(/bad snapshot state/);
  });
});
