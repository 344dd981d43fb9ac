/** Helpers over lists of entries, shared by the log and the storages. */
import type { Entry } from './types.js';

/** Bytes an entry counts for in size limits (its payload, as etcd's PayloadSize). */
export function entryBytes(e: Entry): number {
  return e.data.length;
}

export function entriesBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const e of entries) total += entryBytes(e);
  return total;
}

/** The longest prefix of `entries` within `maxBytes`, but never fewer than one entry. */
export function limitEntriesBytes(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let size = entryBytes(entries[0] as Entry);
  let n = 1;
  while (n < entries.length) {
    size += entryBytes(entries[n] as Entry);
    if (size > maxBytes) break;
    n++;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}
