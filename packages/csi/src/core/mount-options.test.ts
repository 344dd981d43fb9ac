import { describe, expect, it } from 'vitest';
import { Code, CsiStatus } from './csi-status.js';
import { growCommand, mkfsCommand, mountOptions } from './mount-options.js';

describe('mount options', () => {
  it('split comma lists, drop duplicates and keep the order', () => {
    expect(mountOptions(['noatime,discard', 'noatime', ' nodev '], false)).toEqual(['noatime', 'discard', 'nodev']);
  });

  it('add ro for a read-only publish and drop rw then', () => {
    expect(mountOptions(['rw', 'noatime'], true)).toEqual(['noatime', 'ro']);
    expect(mountOptions(['ro'], true)).toEqual(['ro']);
    expect(mountOptions([], false)).toEqual([]);
  });

  it.each(['bind', 'remount', 'noatime,,nodev'])('refuse %s with INVALID_ARGUMENT', (flag) => {
    expect(() => mountOptions([flag], false)).toThrow(CsiStatus);
    try {
      mountOptions([flag], false);
    } catch (err) {
      expect((err as CsiStatus).code).toBe(Code.invalidArgument);
    }
  });

  it('make and grow the filesystem with the tool of its type', () => {
    expect(mkfsCommand('ext4', '/dev/nbd3')).toEqual(['mkfs.ext4', '-q', '-F', '-E', 'nodiscard', '/dev/nbd3']);
    expect(mkfsCommand('xfs', '/dev/nbd3')).toEqual(['mkfs.xfs', '-q', '/dev/nbd3']);
    expect(growCommand('ext4', '/dev/nbd3', '/mnt/v')).toEqual(['resize2fs', '/dev/nbd3']);
    expect(growCommand('xfs', '/dev/nbd3', '/mnt/v')).toEqual(['xfs_growfs', '/mnt/v']);
  });
});
