import fs from 'node:fs';
import path from 'node:path';
import { BasaltError } from '@basalt/stdx';
import { closeFile, ioError, openFile, writeFully } from './fs-io.js';
import { sidecarBytes } from './sidecar.js';

/**
 * The two files of an extent replica under <dir>/extents/<volumeId>/: "<index>.data", sparse,
 * the extent's bytes at their offsets; "<index>.sum", the checksum sidecar, fully allocated at
 * creation so that checksum updates never need new disk space.
 */
export interface ExtentFiles {
  readonly data: number;
  readonly sidecar: number;
  readonly dataPath: string;
}

export function extentPaths(dir: string, volumeId: number, index: number): { data: string; sidecar: string } {
  const base = path.join(dir, 'extents', String(volumeId), String(index));
  return { data: `${base}.data`, sidecar: `${base}.sum` };
}

/** Opens an extent's files; undefined when they do not exist. */
export async function openExtentFiles(dir: string, volumeId: number, index: number): Promise<ExtentFiles | undefined> {
  const p = extentPaths(dir, volumeId, index);
  if (!fs.existsSync(p.sidecar)) return undefined;
  const data = await openFile(p.data, 'r+', 'open extent data');
  const sidecar = await openFile(p.sidecar, 'r+', 'open extent checksums').catch(async (err: unknown) => {
    await closeFile(data);
    throw err;
  });
  return { data, sidecar, dataPath: p.data };
}

/** Creates an extent's files. On failure (e.g. BASALT_NO_SPACE) nothing is left behind. */
export async function createExtentFiles(dir: string, volumeId: number, index: number, extentSizeBytes: number): Promise<ExtentFiles> {
  const p = extentPaths(dir, volumeId, index);
  await fs.promises.mkdir(path.dirname(p.data), { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw ioError(err, 'create extent directory');
  });
  const tmp = `${p.sidecar}.tmp`;
  const data = await openFile(p.data, fs.constants.O_RDWR | fs.constants.O_CREAT, 'create extent data');
  try {
    const fd = await openFile(tmp, 'w+', 'create extent checksums');
    await writeFully(fd, Buffer.alloc(sidecarBytes(extentSizeBytes)), 0, 'allocate extent checksums').finally(() => closeFile(fd));
    await fs.promises.rename(tmp, p.sidecar);
    const sidecar = await openFile(p.sidecar, 'r+', 'open extent checksums');
    return { data, sidecar, dataPath: p.data };
  } catch (err) {
    await closeFile(data);
    await fs.promises.rm(tmp, { force: true });
    if ((await fs.promises.stat(p.data)).size === 0) await fs.promises.rm(p.data, { force: true });
    if (err instanceof BasaltError) throw err;
    throw ioError(err as NodeJS.ErrnoException, 'create extent files');
  }
}

export async function closeExtentFiles(files: ExtentFiles): Promise<void> {
  await Promise.all([closeFile(files.data), closeFile(files.sidecar)]);
}
