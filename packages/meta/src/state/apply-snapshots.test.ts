import { ErrorCode, MiB } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import { MetaState } from './meta-state.js';
import { must, refuse, threeZoneState } from './test-fixtures.js';

function withVolume(): MetaState {
  const state = threeZoneState();
  must(state, { type: 'createVolume', name: 'v', sizeBytes: 4 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 3, nowMs: 1 });
  must(state, { type: 'allocateExtent', name: 'v', index: 2 });
  must(state, { type: 'allocateExtent', name: 'v', index: 0 });
  return state;
}

describe('snapshots in metad', () => {
  it('records a snapshot as creating with the next id and the extents allocated now, and readies it on commit', () => {
    const state = withVolume();
    const snap = must(state, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 5 });
    expect(snap).toMatchObject({ volume: 'v', id: 1, name: 's1', state: 'creating', sizeBytes: 4 * MiB, extents: [0, 2], clones: 0, removed: false });
    refuse(state, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 6 }, ErrorCode.SnapshotExists);
    refuse(state, { type: 'cloneVolume', name: 'v', snapshot: 's1', clone: 'c', nowMs: 6 }, ErrorCode.SnapshotNotFound);
    expect(must(state, { type: 'commitSnapshot', name: 'v', snapshot: 's1' }).state).toBe('ready');
    expect(must(state, { type: 'createSnapshot', name: 'v', snapshot: 's2', nowMs: 7 }).id).toBe(2);
    expect(state.listSnapshots('v')).toMatchObject({ ok: true, value: [{ name: 's1' }, { name: 's2' }] });
    expect(state.getVolume('v')).toMatchObject({ ok: true, value: { snapshotCount: 2 } });
  });

  it('never reuses a snapshot id after a delete, and refuses an unknown one', () => {
    const state = withVolume();
    must(state, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 5 });
    expect(must(state, { type: 'deleteSnapshot', name: 'v', snapshot: 's1' }).removed).toBe(true);
    expect(must(state, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 6 }).id).toBe(2);
    refuse(state, { type: 'deleteSnapshot', name: 'v', snapshot: 'nope' }, ErrorCode.SnapshotNotFound);
    refuse(state, { type: 'createSnapshot', name: 'v', snapshot: 'bad name', nowMs: 6 }, ErrorCode.InvalidArgument);
    // Only a spent id no snapshot holds may have its blocks dropped (GrantSnapshotDrop).
    expect(state.snapshotDropped('v', 1)).toEqual({ ok: true, value: true });
    expect(state.snapshotDropped('v', 2)).toEqual({ ok: true, value: false });
    expect(state.snapshotDropped('v', 3)).toEqual({ ok: true, value: false });
    expect(state.snapshotDropped('v', 0)).toEqual({ ok: true, value: false });
    expect(state.snapshotDropped('nope', 1)).toMatchObject({ ok: false, error: { code: ErrorCode.VolumeNotFound } });
  });

  it('a clone names its source snapshot; deleting the snapshot hides it until the last clone is deleted; the source cannot go first', () => {
    const state = withVolume();
    must(state, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 5 });
    must(state, { type: 'commitSnapshot', name: 'v', snapshot: 's1' });
    const clone = must(state, { type: 'cloneVolume', name: 'v', snapshot: 's1', clone: 'c', nowMs: 8 });
    expect(clone).toMatchObject({ name: 'c', sizeBytes: 4 * MiB, extentSizeBytes: 1 * MiB, allocatedExtents: 0, parent: { volume: 'v', snapshot: 's1', snapshotId: 1 } });
    refuse(state, { type: 'deleteVolume', name: 'v', force: false }, ErrorCode.VolumeBusy);
    expect(must(state, { type: 'deleteSnapshot', name: 'v', snapshot: 's1' }).removed).toBe(false);
    expect(state.listSnapshots('v')).toEqual({ ok: true, value: [] });
    expect(state.snapshotDropped('v', 1)).toEqual({ ok: true, value: false }); // hidden, kept for the clone
    refuse(state, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 9 }, ErrorCode.SnapshotExists);
    const restored = MetaState.decodeSnapshot(state.encodeSnapshot());
    expect(restored.hash()).toBe(state.hash());
    state.checkInvariants();
    must(state, { type: 'deleteVolume', name: 'c', force: false });
    state.checkInvariants();
    must(state, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 10 });
    must(state, { type: 'deleteVolume', name: 'v', force: false });
  });

  it('a clone of an encrypted volume shares its wrapped key, bound to the source id, down a chain of clones and across a state snapshot', () => {
    const state = threeZoneState();
    const key = { cipher: 'aes-256-xts', keyId: 'file:0123456789abcdef', wrappedKey: 'AAECAwQFBgc=' };
    must(state, { type: 'createVolume', name: 'plain', sizeBytes: 4 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 3, nowMs: 1 });
    const source = must(state, { type: 'createVolume', name: 'enc', sizeBytes: 4 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 3, nowMs: 1, ...key, expectedId: 2 });
    expect(source.encryption).toEqual({ ...key, keyVolumeId: 2 });
    must(state, { type: 'createSnapshot', name: 'enc', snapshot: 's1', nowMs: 5 });
    must(state, { type: 'commitSnapshot', name: 'enc', snapshot: 's1' });
    // An entry from before clones of encrypted volumes (no shareKey) is refused as it was then.
    refuse(state, { type: 'cloneVolume', name: 'enc', snapshot: 's1', clone: 'c', nowMs: 6 }, ErrorCode.NotSupported);
    const clone = must(state, { type: 'cloneVolume', name: 'enc', snapshot: 's1', clone: 'c', nowMs: 6, shareKey: true });
    expect(clone.id).toBe(3);
    expect(clone.encryption).toEqual({ ...key, keyVolumeId: 2 });
    must(state, { type: 'createSnapshot', name: 'c', snapshot: 'cs', nowMs: 7 });
    must(state, { type: 'commitSnapshot', name: 'c', snapshot: 'cs' });
    expect(must(state, { type: 'cloneVolume', name: 'c', snapshot: 'cs', clone: 'cc', nowMs: 8, shareKey: true }).encryption).toEqual({ ...key, keyVolumeId: 2 });
    must(state, { type: 'flattenVolume', name: 'c' });
    expect(state.getVolume('c')).toMatchObject({ ok: true, value: { parent: null, encryption: { ...key, keyVolumeId: 2 } } });
    const restored = MetaState.decodeSnapshot(state.encodeSnapshot());
    expect(restored.hash()).toBe(state.hash());
    for (const name of ['plain', 'enc', 'c', 'cc']) expect(restored.getVolume(name)).toEqual(state.getVolume(name));
    expect(restored.getVolume('plain')).toMatchObject({ ok: true, value: { encryption: null } });
    state.checkInvariants();
  });

  it('flattening a clone ends its read-through and frees a hidden parent snapshot; again it changes nothing', () => {
    const state = withVolume();
    must(state, { type: 'createSnapshot', name: 'v', snapshot: 's1', nowMs: 5 });
    must(state, { type: 'commitSnapshot', name: 'v', snapshot: 's1' });
    must(state, { type: 'cloneVolume', name: 'v', snapshot: 's1', clone: 'c', nowMs: 8 });
    must(state, { type: 'deleteSnapshot', name: 'v', snapshot: 's1' });
    expect(must(state, { type: 'flattenVolume', name: 'c' }).parent).toBeNull();
    expect(state.listSnapshots('v', true)).toEqual({ ok: true, value: [] });
    expect(must(state, { type: 'flattenVolume', name: 'c' }).parent).toBeNull();
    state.checkInvariants();
    must(state, { type: 'deleteVolume', name: 'v', force: false });
  });
});
