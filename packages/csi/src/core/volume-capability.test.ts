import { describe, expect, it } from 'vitest';
import { ErrorCode } from '@basalt/stdx';
import { Code, codeForBasalt } from './csi-status.js';
import { requisiteZones, zoneKey, zoneTopologies } from './topology.js';
import { AccessMode, fsTypeOf, requireSupported, unsupportedReason, type Capability } from './volume-capability.js';

const mount = (mode: number, fsType = ''): Capability => ({ accessType: 'mount', fsType, mountFlags: [], mode });

describe('volume capabilities', () => {
  it('serve one writer on one node, or readers, as a filesystem or a raw block device', () => {
    for (const mode of [AccessMode.singleNodeWriter, AccessMode.singleNodeSingleWriter, AccessMode.singleNodeReaderOnly, AccessMode.multiNodeReaderOnly]) {
      expect(unsupportedReason(mount(mode))).toBeNull();
      expect(unsupportedReason({ ...mount(mode), accessType: 'block' })).toBeNull();
    }
  });

  it('refuse several writers, an unknown mode, a missing access type and other filesystems', () => {
    expect(unsupportedReason(mount(AccessMode.multiNodeMultiWriter))).toContain('not supported');
    expect(unsupportedReason(mount(AccessMode.multiNodeSingleWriter))).toContain('not supported');
    expect(unsupportedReason(mount(0))).toContain('not supported');
    expect(unsupportedReason({ ...mount(1), accessType: null })).toContain('neither block nor mount');
    expect(unsupportedReason(mount(1, 'btrfs'))).toContain('btrfs');
    expect(() => requireSupported([], 'volume_capabilities')).toThrow('volume_capabilities is required');
  });

  it('make ext4 unless xfs is asked', () => {
    expect(fsTypeOf(mount(1))).toBe('ext4');
    expect(fsTypeOf(mount(1, 'xfs'))).toBe('xfs');
  });
});

describe('topology and status codes', () => {
  it('one segment per zone, sorted, without duplicates', () => {
    expect(zoneTopologies(['b', 'a', 'b', ''])).toEqual([{ segments: { [zoneKey]: 'a' } }, { segments: { [zoneKey]: 'b' } }]);
    expect(requisiteZones([{ segments: { [zoneKey]: 'a' } }, { segments: { other: 'x' } }])).toEqual(['a']);
    expect(requisiteZones([])).toBeNull();
  });

  it('map Basalt codes to the status the spec names', () => {
    expect(codeForBasalt(ErrorCode.VolumeNotFound)).toBe(Code.notFound);
    expect(codeForBasalt(ErrorCode.VolumeExists)).toBe(Code.alreadyExists);
    expect(codeForBasalt(ErrorCode.VolumeBusy)).toBe(Code.failedPrecondition);
    expect(codeForBasalt(ErrorCode.NoSpace)).toBe(Code.resourceExhausted);
    expect(codeForBasalt(ErrorCode.NotLeader)).toBe(Code.unavailable);
    expect(codeForBasalt(ErrorCode.Checksum)).toBe(Code.internal);
  });
});
