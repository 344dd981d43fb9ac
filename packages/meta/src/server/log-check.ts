import { BasaltError, ErrorCode } from '@basalt/stdx';
import type { PersistedLog } from './log-store.js';

/**
 * Checks what a LogStore loaded: entries contiguous right after the snapshot, terms never
 * decreasing and not above the hard state's term. A violation is corruption (BASALT_IO): the
 * member must not start from it.
 */
export function checkPersistedLog(log: PersistedLog, where: string): void {
  let prevIndex = log.snapshot.meta.index;
  let prevTerm = log.snapshot.meta.term;
  for (const e of log.entries) {
    if (e.index !== prevIndex + 1) corrupt(where, `log has a gap: entry ${e.index} follows ${prevIndex}`);
    if (e.term < prevTerm) corrupt(where, `entry ${e.index} has term ${e.term} below the previous term ${prevTerm}`);
    prevIndex = e.index;
    prevTerm = e.term;
  }
  if (prevTerm > log.hardState.term) corrupt(where, `last entry term ${prevTerm} above hard state term ${log.hardState.term}`);
  if (log.hardState.commit > prevIndex) {
    corrupt(where, `commit index ${log.hardState.commit} beyond the last stored index ${prevIndex}`);
  }
}

function corrupt(where: string, what: string): never {
  throw new BasaltError(ErrorCode.Io, `corrupt Raft log in ${where}: ${what}`, { where });
}
