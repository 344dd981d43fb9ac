import fs from 'node:fs';
import path from 'node:path';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { closeFile, fdatasync, ioError, openFile, readFully, writeFully } from './fs-io.js';
import { blockBytes, entryBytes, sidecarBytes } from './sidecar.js';
import { stampEntryBytes, stampTableBytes } from './stamp-table.js';

/**
 * The file of an extent replica: <dir>/extents/<volumeId>/<index>.extent, laid out as
 *
 *   [0, E)              the extent's data at their offsets, sparse (E = extent size)
 *   [E, E + S)          the checksum sidecar (sidecar.ts), S = 8 bytes per 4 KiB block
 *   [E + S, E + 2S)     the stamp table (stamp-table.ts), 8 bytes per block
 *
 * Sidecar and stamp table are allocated in full at creation, so that their updates never need
 * new disk space; together they are the extent's "block metadata", kept in memory as one buffer
 * (sidecar-cache.ts). The file's size names its format: E + 2S now, E + S before stamps (format
 * 1, converted when opened: convertToStamped), anything else is refused (BASALT_IO).
 *
 * Why one file: FLUSH must make data and checksums durable, and each file costs an fdatasync
 * (a disk cache flush). Measured on the project machine: three replicas on one disk each syncing
 * two files took 2.6-3.8 ms per round, each syncing one file 1.5-1.9 ms.
 *
 * Creation writes the block metadata into "<index>.extent.tmp" and renames it: an extent exists once
 * its file does. Replicas written by earlier versions (two files, "<index>.data" and
 * "<index>.sum") are converted when opened (convertLegacy).
 */
export interface ExtentFiles {
  readonly fd: number;
  readonly path: string;
  /** Where the checksum sidecar starts: the extent size. */
  readonly sidecarAt: number;
  /** Where the stamp table starts: right after the sidecar. */
  readonly stampsAt: number;
}

/** Bytes of block metadata (sidecar and stamp table) after the data. */
export function blockMetaBytes(extentSizeBytes: number): number {
  return sidecarBytes(extentSizeBytes) + stampTableBytes(extentSizeBytes);
}

function filesAt(fd: number, p: string, extentSizeBytes: number): ExtentFiles {
  return { fd, path: p, sidecarAt: extentSizeBytes, stampsAt: extentSizeBytes + sidecarBytes(extentSizeBytes) };
}

/** The folder of a volume's replicas. */
export function volumeDir(dir: string, volumeId: number): string {
  return path.join(dir, 'extents', String(volumeId));
}

export function extentPath(dir: string, volumeId: number, index: number): string {
  return `${base(dir, volumeId, index)}.extent`;
}

function base(dir: string, volumeId: number, index: number): string {
  return path.join(volumeDir(dir, volumeId), String(index));
}

/** Opens an extent's file; undefined when the extent has none. */
export async function openExtentFiles(dir: string, volumeId: number, index: number, extentSizeBytes: number): Promise<ExtentFiles | undefined> {
  const p = extentPath(dir, volumeId, index);
  const legacy = { data: `${base(dir, volumeId, index)}.data`, sidecar: `${base(dir, volumeId, index)}.sum` };
  if (fs.existsSync(legacy.sidecar)) {
    if (fs.existsSync(p)) await fs.promises.rm(legacy.sidecar); // converted; died before this removal
    else await convertLegacy(legacy, p, extentSizeBytes);
  }
  if (!fs.existsSync(p)) return undefined;
  const fd = await openFile(p, 'r+', 'open extent file');
  try {
    const size = (await fs.promises.stat(p)).size;
    const stamped = extentSizeBytes + blockMetaBytes(extentSizeBytes);
    if (size >= extentSizeBytes + sidecarBytes(extentSizeBytes) && size < stamped) await convertToStamped(fd, extentSizeBytes);
    else if (size !== stamped) {
      throw new BasaltError(ErrorCode.Io, `extent file ${p} has ${size} bytes, which is no layout this chunk server knows (expected ${stamped} for an extent of ${extentSizeBytes} bytes)`, { path: p, size });
    }
  } catch (err) {
    await closeFile(fd);
    throw err;
  }
  return filesAt(fd, p, extentSizeBytes);
}

/**
 * Adds the stamp table to a replica written before stamps (format 1: data and sidecar). Each
 * block that holds data gets (0, 1), data of unknown age; blocks never written keep (0, 0). The
 * table is written up to its last entry and synced, then the last entry is written and synced:
 * the file reaches its full size (the commit point) only after the rest of the table is durable.
 * A crash before that leaves a shorter file, converted again on the next open (the same bytes).
 * Power lost after the last write and before its sync can leave the last block's entry zero:
 * (0, 0) on a block with data, which a catch-up copies (it compares CRCs as well as stamps).
 */
async function convertToStamped(fd: number, extentSizeBytes: number): Promise<void> {
  const sums = await readFully(fd, sidecarBytes(extentSizeBytes), extentSizeBytes, 'read extent checksums to convert');
  const blocks = extentSizeBytes / blockBytes;
  const table = Buffer.alloc(blocks * stampEntryBytes);
  for (let b = 0; b < blocks; b++) {
    if (sums.readUInt32BE(b * entryBytes) !== 0 || sums.readUInt32BE(b * entryBytes + 4) !== 0) table.writeUInt32BE(1, b * stampEntryBytes + 4);
  }
  const at = extentSizeBytes + sums.length;
  await writeFully(fd, table.subarray(0, table.length - stampEntryBytes), at, 'convert extent: write stamps');
  await fdatasync(fd, 'convert extent: sync stamps');
  await writeFully(fd, table.subarray(table.length - stampEntryBytes), at + table.length - stampEntryBytes, 'convert extent: write the last stamp');
  await fdatasync(fd, 'convert extent: sync the last stamp');
}

/** Creates an extent's file. On failure (e.g. BASALT_NO_SPACE) nothing is left behind. */
export async function createExtentFiles(dir: string, volumeId: number, index: number, extentSizeBytes: number): Promise<ExtentFiles> {
  const p = extentPath(dir, volumeId, index);
  const tmp = `${p}.tmp`;
  await fs.promises.mkdir(path.dirname(p), { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw ioError(err, 'create extent directory');
  });
  const fd = await openFile(tmp, 'w+', 'create extent file');
  try {
    await writeFully(fd, Buffer.alloc(blockMetaBytes(extentSizeBytes)), extentSizeBytes, 'allocate extent checksums and stamps');
    await fs.promises.rename(tmp, p);
    await syncDirectory(path.dirname(p));
    return filesAt(fd, p, extentSizeBytes);
  } catch (err) {
    await closeFile(fd);
    await fs.promises.rm(tmp, { force: true });
    if (err instanceof BasaltError) throw err;
    throw ioError(err as NodeJS.ErrnoException, 'create extent file');
  }
}

export async function closeExtentFiles(files: ExtentFiles): Promise<void> {
  await closeFile(files.fd);
}

/**
 * Moves a two-file replica into one file: the sidecar goes after the data (synced), then the
 * data file is renamed (the commit point), then the old sidecar removed. A crash at any point
 * leaves either the legacy pair (converted again on the next open) or the new file.
 */
async function convertLegacy(legacy: { data: string; sidecar: string }, p: string, extentSizeBytes: number): Promise<void> {
  const sumFd = await openFile(legacy.sidecar, 'r', 'open legacy extent checksums');
  const sums = await readFully(sumFd, sidecarBytes(extentSizeBytes), 0, 'read legacy extent checksums').finally(() => closeFile(sumFd));
  const fd = await openFile(legacy.data, fs.constants.O_RDWR | fs.constants.O_CREAT, 'open legacy extent data');
  try {
    await writeFully(fd, sums, extentSizeBytes, 'convert legacy extent checksums');
    await fdatasync(fd, 'convert legacy extent');
  } finally {
    await closeFile(fd);
  }
  await fs.promises.rename(legacy.data, p);
  await syncDirectory(path.dirname(p));
  await fs.promises.rm(legacy.sidecar);
}

/**
 * Removes a volume's folder with every file in it (replicas, and leftovers of interrupted
 * creations and conversions) and makes the removal durable. Returns the bytes the files held on
 * disk.
 */
export async function removeVolumeDir(dir: string, volumeId: number): Promise<number> {
  const folder = volumeDir(dir, volumeId);
  const names = await fs.promises.readdir(folder).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw ioError(err, 'list volume directory');
  });
  let bytes = 0;
  for (const name of names) bytes += (await fs.promises.stat(path.join(folder, name)).catch(() => ({ blocks: 0 }))).blocks * 512;
  await fs.promises.rm(folder, { recursive: true, force: true }).catch((err: NodeJS.ErrnoException) => {
    throw ioError(err, 'remove volume directory');
  });
  await syncDirectory(path.dirname(folder));
  return bytes;
}

/** Makes a rename in dir durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const fd = await openFile(dir, 'r', 'open extent directory');
  await fdatasync(fd, 'sync extent directory').finally(() => closeFile(fd));
}
