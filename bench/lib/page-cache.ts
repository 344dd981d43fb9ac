import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { memFreeMiB } from './proc-stats.js';

const readBytes = 2 ** 20;
const progressEveryMiB = 2048;

/**
 * Fills the machine's free memory, all but `headroomMiB`, with clean page-cache pages: a sparse
 * file at `path` read once (the kernel caches the holes' zero pages, no disk write). A server that
 * has run a while has its memory full of page cache, and a new page-cache page is then a reclaimed
 * one; on a just-started guest that hands free memory back to its host, it is a host page fault
 * instead (bench/RESULTS.md, "the prefill row profiled"). The pages are clean, so the kernel drops
 * them as the run needs memory; deleting the file hands the memory back. Returns the MiB read.
 */
export async function fillPageCache(path: string, headroomMiB: number, log: (line: string) => void): Promise<number> {
  const fillMiB = memFreeMiB() - headroomMiB;
  if (!(fillMiB > 0)) {
    log(`page cache: only ${memFreeMiB()} MiB free, nothing to fill (headroom ${headroomMiB} MiB)`);
    return 0;
  }
  const fd = openSync(path, 'w');
  ftruncateSync(fd, fillMiB * 2 ** 20);
  closeSync(fd);
  log(`page cache: reading ${fillMiB} MiB of a sparse file into it (leaving ${headroomMiB} MiB free)...`);
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(readBytes);
    for (let mib = 0; mib < fillMiB; mib++) {
      await file.read(buffer, 0, readBytes, mib * readBytes);
      if ((mib + 1) % progressEveryMiB === 0) log(`    ${mib + 1} / ${fillMiB} MiB, ${memFreeMiB()} MiB free`);
    }
  } finally {
    await file.close();
  }
  log(`page cache: filled, ${memFreeMiB()} MiB free`);
  return fillMiB;
}
