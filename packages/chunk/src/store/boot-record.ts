import fs from 'node:fs';
import path from 'node:path';
import { closeFile, fdatasync, ioError, openFile, writeFully } from './fs-io.js';

/**
 * How a store finds out that it lost power (docs/data-path.md, "Layout on disk"): <dir>/boot
 * records the kernel's boot id (/proc/sys/kernel/random/boot_id, new at every boot) and whether
 * the store was closed cleanly. A store opened after an unclean close in the same boot lost only
 * its process: the page cache kept every write, so stamps and checksums describe the data. After
 * an unclean close in another boot (or with no record, or no boot id to compare) unsynced writes
 * may be lost in any order, and the replicas are marked suspect.
 */
export interface BootRecord {
  readonly bootId: string;
  readonly clean: boolean;
}

/** This boot's id; '' where the kernel offers none (then every unclean close counts as a power loss). */
export function currentBootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

export function readBootRecord(dir: string): BootRecord | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(dir, 'boot'), 'utf8')) as Partial<BootRecord>;
    return typeof parsed.bootId === 'string' && typeof parsed.clean === 'boolean' ? { bootId: parsed.bootId, clean: parsed.clean } : undefined;
  } catch {
    return undefined;
  }
}

/** True when the previous run may have lost unsynced writes to a power loss. */
export function lostPower(previous: BootRecord | undefined, bootId: string): boolean {
  if (previous === undefined) return true;
  return !previous.clean && (previous.bootId !== bootId || bootId === '');
}

/** Replaces the record durably (written to a temporary file, synced, renamed, directory synced). */
export async function writeBootRecord(dir: string, record: BootRecord): Promise<void> {
  const target = path.join(dir, 'boot');
  const tmp = `${target}.tmp`;
  const fd = await openFile(tmp, 'w', 'write boot record');
  try {
    await writeFully(fd, Buffer.from(JSON.stringify(record)), 0, 'write boot record');
    await fdatasync(fd, 'sync boot record');
  } finally {
    await closeFile(fd);
  }
  await fs.promises.rename(tmp, target).catch((err: NodeJS.ErrnoException) => {
    throw ioError(err, 'write boot record');
  });
  const dirFd = await openFile(dir, 'r', 'open data directory');
  await fdatasync(dirFd, 'sync data directory').finally(() => closeFile(dirFd));
}
