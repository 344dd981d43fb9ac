import { ErrorCode, GiB, limits, MiB } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import { createVolumeCommand, type Command, type CreateVolumeCommand } from './commands.js';
import { MetaState } from './meta-state.js';
import { must, refuse, threeZoneState } from './test-fixtures.js';

const create: CreateVolumeCommand = { type: 'createVolume', name: 'db-1', sizeBytes: 1 * GiB, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: 42 };

describe('creating a volume', () => {
  it('creates a thin volume with id, sizes, generation 0 and no lease', () => {
    const state = MetaState.empty();
    const view = must(state, create);
    expect(view).toEqual({
      id: 1,
      name: 'db-1',
      sizeBytes: 1 * GiB,
      extentSizeBytes: 64 * MiB,
      extentCount: 16,
      allocatedExtents: 0,
      replicationFactor: 3,
      generation: 0,
      lease: null,
      labels: {},
      createdAtMs: 42,
      encryption: null,
      tenant: 'default',
      parent: null,
      snapshotCount: 0,
      requestedSnapshots: [],
      flatten: null,
    });
    expect(state.getVolume('db-1')).toEqual({ ok: true, value: view });
  });

  it('stores an encrypted volume\'s wrapped key as given, only at the id the key is bound to', () => {
    const state = MetaState.empty();
    const key = { cipher: 'aes-256-xts', keyId: 'file:0123456789abcdef', wrappedKey: Buffer.alloc(92, 7).toString('base64') };
    must(state, create);
    const refused = refuse(state, createVolumeCommand({ name: 'enc', sizeBytes: 64 * MiB, nowMs: 1, encryption: key, expectedId: 1 }), ErrorCode.CompareFailed);
    expect(refused).toMatchObject({ expected: 1, actual: 2 });
    expect(state.getVolume('enc').ok).toBe(false);
    const view = must(state, createVolumeCommand({ name: 'enc', sizeBytes: 64 * MiB, nowMs: 1, encryption: key, expectedId: 2 }));
    expect(view).toMatchObject({ id: 2, encryption: key });
  });

  it('refuses an encrypted volume whose key fields are partial, too large or not base64', () => {
    const state = MetaState.empty();
    const base = { ...create, name: 'enc', cipher: 'aes-256-xts', keyId: 'file:1', wrappedKey: 'AAAA' };
    refuse(state, { ...base, wrappedKey: undefined }, ErrorCode.InvalidArgument);
    refuse(state, { ...base, wrappedKey: 'AAAA'.repeat(Math.ceil(limits.wrappedKeyBytesMax / 3) + 1) }, ErrorCode.InvalidArgument);
    refuse(state, { ...base, wrappedKey: 'not base64!' }, ErrorCode.InvalidArgument);
    refuse(state, { ...base, keyId: 'has space' }, ErrorCode.InvalidArgument);
    refuse(state, { ...base, cipher: '' }, ErrorCode.InvalidArgument);
    expect(must(state, base).encryption).toEqual({ cipher: 'aes-256-xts', keyId: 'file:1', wrappedKey: 'AAAA', keyVolumeId: 1 });
  });

  it('createVolumeCommand writes the defaults into the command: 64 MiB extents, factor 3', () => {
    expect(createVolumeCommand({ name: 'a', sizeBytes: 128 * MiB, nowMs: 1 })).toEqual({
      type: 'createVolume',
      name: 'a',
      sizeBytes: 128 * MiB,
      extentSizeBytes: 64 * MiB,
      replicationFactor: 3,
      nowMs: 1,
    });
    expect(createVolumeCommand({ name: 'a', sizeBytes: 1 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 1, nowMs: 1 })).toMatchObject({ extentSizeBytes: 1 * MiB, replicationFactor: 1 });
  });

  it('volume ids are never reused, even after a delete', () => {
    const state = MetaState.empty();
    must(state, create);
    must(state, { type: 'deleteVolume', name: 'db-1', force: false });
    expect(must(state, create).id).toBe(2);
  });

  it.each([
    ['an empty name', { name: '' }],
    ['a name starting with a dot', { name: '.hidden' }],
    ['a name with a slash', { name: 'a/b' }],
    ['a non-ASCII name', { name: 'données' }],
    ['a name over the limit', { name: 'v'.repeat(limits.volumeNameBytesMax + 1) }],
    ['size 0', { sizeBytes: 0 }],
    ['a negative size', { sizeBytes: -64 * MiB }],
    ['a size beyond the maximum', { sizeBytes: limits.volumeSizeBytesMax + 64 * MiB }],
    ['a size that is not whole extents', { sizeBytes: 100 * MiB }],
    ['an extent size that is not a power of two', { extentSizeBytes: 3 * MiB, sizeBytes: 3 * MiB }],
    ['an extent size below 1 MiB', { extentSizeBytes: 512 * 1024 }],
    ['an extent size above 1 GiB', { extentSizeBytes: 2 * GiB, sizeBytes: 2 * GiB }],
    ['replication factor 0', { replicationFactor: 0 }],
    ['replication factor 6', { replicationFactor: limits.replicationFactorMax + 1 }],
    ['a fractional replication factor', { replicationFactor: 2.5 }],
  ])('refuses %s with BASALT_INVALID_ARGUMENT and changes nothing', (_, change) => {
    const state = threeZoneState();
    refuse(state, { ...create, ...change }, ErrorCode.InvalidArgument);
  });

  it('accepts the extremes: a 1 MiB volume of 1 MiB extents, 1 GiB extents, factor 5, a 128-byte name', () => {
    const state = MetaState.empty();
    must(state, { ...create, name: 'tiny', sizeBytes: 1 * MiB, extentSizeBytes: 1 * MiB, replicationFactor: 1 });
    must(state, { ...create, name: 'v'.repeat(limits.volumeNameBytesMax), sizeBytes: limits.volumeSizeBytesMax, extentSizeBytes: 1 * GiB, replicationFactor: 5 });
    expect(state.listVolumes().map((v) => v.name)).toEqual(['tiny', 'v'.repeat(limits.volumeNameBytesMax)]);
  });

  it('refuses a duplicate name with BASALT_VOLUME_EXISTS', () => {
    const state = MetaState.empty();
    must(state, create);
    expect(refuse(state, { ...create, sizeBytes: 2 * GiB }, ErrorCode.VolumeExists)).toEqual({ volume: 'db-1' });
  });
});

describe('resizing a volume', () => {
  it('grows in whole extents; the same size is a no-op', () => {
    const state = MetaState.empty();
    must(state, create);
    expect(must(state, { type: 'resizeVolume', name: 'db-1', sizeBytes: 2 * GiB })).toMatchObject({ sizeBytes: 2 * GiB, extentCount: 32 });
    const hash = state.hash();
    must(state, { type: 'resizeVolume', name: 'db-1', sizeBytes: 2 * GiB });
    expect(state.hash()).toBe(hash);
  });

  it('never shrinks: BASALT_SHRINK_NOT_ALLOWED', () => {
    const state = MetaState.empty();
    must(state, create);
    const details = refuse(state, { type: 'resizeVolume', name: 'db-1', sizeBytes: 512 * MiB }, ErrorCode.ShrinkNotAllowed);
    expect(details).toEqual({ volume: 'db-1', sizeBytes: 512 * MiB, currentSizeBytes: 1 * GiB });
  });

  it('shrinks when forced over never-written extents only, and never discards data', () => {
    const state = threeZoneState();
    must(state, create);
    must(state, { type: 'allocateExtent', name: 'db-1', index: 7 });
    expect(must(state, { type: 'resizeVolume', name: 'db-1', sizeBytes: 8 * 64 * MiB, force: true })).toMatchObject({ sizeBytes: 512 * MiB, extentCount: 8, allocatedExtents: 1 });
    const details = refuse(state, { type: 'resizeVolume', name: 'db-1', sizeBytes: 4 * 64 * MiB, force: true }, ErrorCode.ShrinkNotAllowed);
    expect(details).toEqual({ volume: 'db-1', sizeBytes: 256 * MiB, currentSizeBytes: 512 * MiB, firstAllocatedIndex: 7, allocatedBeyond: 1 });
    expect(state.getVolume('db-1')).toMatchObject({ value: { sizeBytes: 512 * MiB } });
  });

  it('refuses a size that is not whole extents, zero, or an unknown volume', () => {
    const state = MetaState.empty();
    must(state, create);
    refuse(state, { type: 'resizeVolume', name: 'db-1', sizeBytes: 1 * GiB + 1 * MiB }, ErrorCode.InvalidArgument);
    refuse(state, { type: 'resizeVolume', name: 'db-1', sizeBytes: 0 }, ErrorCode.InvalidArgument);
    refuse(state, { type: 'resizeVolume', name: 'db-2', sizeBytes: 2 * GiB }, ErrorCode.VolumeNotFound);
  });
});

describe('deleting a volume', () => {
  it('removes the volume and releases its replicas on the servers', () => {
    const state = threeZoneState();
    must(state, create);
    must(state, { type: 'allocateExtent', name: 'db-1', index: 0 });
    must(state, { type: 'allocateExtent', name: 'db-1', index: 5 });
    expect(state.listServers().map((s) => s.extentCount)).toEqual([2, 2, 2]);
    expect(must(state, { type: 'deleteVolume', name: 'db-1', force: false }).allocatedExtents).toBe(2);
    expect(state.listVolumes()).toEqual([]);
    expect(state.listServers().map((s) => s.extentCount)).toEqual([0, 0, 0]);
    expect(state.getVolume('db-1')).toMatchObject({ ok: false, error: { code: ErrorCode.VolumeNotFound } });
    state.checkInvariants();
  });

  it('is refused while a writer holds the lease, unless forced', () => {
    const state = MetaState.empty();
    must(state, create);
    must(state, { type: 'acquireLease', name: 'db-1', clientId: 'w1', force: false, nowMs: 1 });
    expect(refuse(state, { type: 'deleteVolume', name: 'db-1', force: false }, ErrorCode.VolumeBusy)).toMatchObject({ holder: 'w1' });
    must(state, { type: 'deleteVolume', name: 'db-1', force: true });
    refuse(state, { type: 'deleteVolume', name: 'db-1', force: true }, ErrorCode.VolumeNotFound);
  });
});

describe('labels', () => {
  const label = (key: string, value: string | null, expect?: string | null): Command =>
    expect === undefined ? { type: 'setLabel', name: 'db-1', key, value } : { type: 'setLabel', name: 'db-1', key, value, expect };

  it('sets, overwrites and removes labels, reporting the previous value', () => {
    const state = MetaState.empty();
    must(state, create);
    expect(must(state, label('owner', 'ana'))).toEqual({ volume: 'db-1', key: 'owner', value: 'ana', previous: null });
    expect(must(state, label('owner', 'bo'))).toMatchObject({ previous: 'ana' });
    must(state, label('app/tier', 'gold'));
    expect(unwrapVolume(state).labels).toEqual({ 'app/tier': 'gold', owner: 'bo' });
    expect(must(state, label('owner', null))).toMatchObject({ value: null, previous: 'bo' });
    expect(unwrapVolume(state).labels).toEqual({ 'app/tier': 'gold' });
  });

  it('compare-and-set applies only when the current value is the expected one', () => {
    const state = MetaState.empty();
    must(state, create);
    must(state, label('reg', '1', null));
    refuse(state, label('reg', '2', null), ErrorCode.CompareFailed);
    const details = refuse(state, label('reg', '3', '2'), ErrorCode.CompareFailed);
    expect(details).toEqual({ volume: 'db-1', key: 'reg', expected: '2', actual: '1' });
    expect(must(state, label('reg', '2', '1'))).toMatchObject({ previous: '1', value: '2' });
    must(state, label('reg', null, '2'));
    refuse(state, label('reg', '4', '2'), ErrorCode.CompareFailed);
  });

  it('bounds label keys, values and count', () => {
    const state = MetaState.empty();
    must(state, create);
    refuse(state, label('', 'x'), ErrorCode.InvalidArgument);
    refuse(state, label('bad key', 'x'), ErrorCode.InvalidArgument);
    refuse(state, label('k'.repeat(limits.labelKeyBytesMax + 1), 'x'), ErrorCode.InvalidArgument);
    refuse(state, label('k', 'é'.repeat(limits.labelValueBytesMax / 2 + 1)), ErrorCode.InvalidArgument);
    must(state, label('k', 'é'.repeat(limits.labelValueBytesMax / 2)));
    for (let i = 1; i < limits.labelsPerVolumeMax; i++) must(state, label(`k${i}`, 'x'));
    refuse(state, label('one-more', 'x'), ErrorCode.LimitExceeded);
    must(state, label('k1', 'overwrite is fine at the limit'));
    refuse(state, { type: 'setLabel', name: 'nope', key: 'k', value: 'x' }, ErrorCode.VolumeNotFound);
  });
});

function unwrapVolume(state: MetaState) {
  const result = state.getVolume('db-1');
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}
