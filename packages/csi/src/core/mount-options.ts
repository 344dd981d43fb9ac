import { invalid } from './csi-status.js';
import type { FsType } from './volume-capability.js';

/** Options a CO may not pass: they would change what kind of mount the driver makes. */
const refused = ['bind', 'rbind', 'remount', 'move'];

/**
 * The `-o` options for mounting a volume: the capability's mount_flags (each may itself be a
 * comma list), without duplicates, in order, with `ro` when the volume is published read-only
 * (and any `rw` dropped then). Refuses options that change the kind of mount and empty ones.
 */
export function mountOptions(mountFlags: readonly string[], readOnly: boolean): string[] {
  const out: string[] = [];
  for (const flag of mountFlags.flatMap((f) => f.split(','))) {
    const option = flag.trim();
    if (option === '') throw invalid(`empty mount option in ${JSON.stringify(mountFlags.join(','))}`);
    if (refused.includes(option)) throw invalid(`mount option ${JSON.stringify(option)} is not allowed: the driver chooses bind and remount itself`);
    if (readOnly && option === 'rw') continue;
    if (!out.includes(option)) out.push(option);
  }
  if (readOnly && !out.includes('ro')) out.push('ro');
  return out;
}

/** The command that makes a filesystem of fsType on device (run only when it has none). */
export function mkfsCommand(fsType: FsType, device: string): [string, ...string[]] {
  return fsType === 'xfs' ? ['mkfs.xfs', '-q', device] : ['mkfs.ext4', '-q', '-F', '-E', 'nodiscard', device];
}

/** The command that grows a mounted filesystem to its device's size. */
export function growCommand(fsType: FsType, device: string, mountPath: string): [string, ...string[]] {
  return fsType === 'xfs' ? ['xfs_growfs', mountPath] : ['resize2fs', device];
}
