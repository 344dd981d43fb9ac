import { invalid } from './csi-status.js';

/** A VolumeCapability as the driver reads it (from csi.v1.VolumeCapability). */
export interface Capability {
  /** 'block' for raw block, 'mount' for a filesystem; null when neither is set. */
  readonly accessType: 'block' | 'mount' | null;
  readonly fsType: string;
  readonly mountFlags: readonly string[];
  /** csi.v1.VolumeCapability.AccessMode.Mode. */
  readonly mode: number;
}

/** The access modes Basalt serves: one writer (the writer lease) on one node, or readers. */
export const AccessMode = {
  singleNodeWriter: 1,
  singleNodeReaderOnly: 2,
  multiNodeReaderOnly: 3,
  multiNodeSingleWriter: 4,
  multiNodeMultiWriter: 5,
  singleNodeSingleWriter: 6,
  singleNodeMultiWriter: 7,
} as const;

const supportedModes: readonly number[] = [AccessMode.singleNodeWriter, AccessMode.singleNodeReaderOnly, AccessMode.multiNodeReaderOnly, AccessMode.singleNodeSingleWriter];

/** Filesystems NodeStage can make and grow. */
export const fsTypes = ['ext4', 'xfs'] as const;
export type FsType = (typeof fsTypes)[number];

/** Why the driver cannot serve this capability, or null when it can. */
export function unsupportedReason(cap: Capability): string | null {
  if (cap.accessType === null) return 'volume capability sets neither block nor mount';
  if (!supportedModes.includes(cap.mode)) {
    return `access mode ${cap.mode} is not supported: Basalt serves one writer on one node (SINGLE_NODE_WRITER, SINGLE_NODE_SINGLE_WRITER) or readers (SINGLE_NODE_READER_ONLY, MULTI_NODE_READER_ONLY)`;
  }
  if (cap.accessType === 'mount' && cap.fsType !== '' && !(fsTypes as readonly string[]).includes(cap.fsType)) {
    return `fs_type ${JSON.stringify(cap.fsType)} is not supported: use ${fsTypes.join(' or ')}`;
  }
  return null;
}

/** Throws INVALID_ARGUMENT unless the list is non-empty and every capability is supported. */
export function requireSupported(caps: readonly Capability[], field: string): void {
  if (caps.length === 0) throw invalid(`${field} is required`);
  for (const cap of caps) {
    const reason = unsupportedReason(cap);
    if (reason !== null) throw invalid(reason);
  }
}

export function fsTypeOf(cap: Capability): FsType {
  return cap.fsType === 'xfs' ? 'xfs' : 'ext4';
}
