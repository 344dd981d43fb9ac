/**
 * Allocation ahead for a sequential writer: the decision, pure (no I/O, no clock).
 *
 * The first write to an extent waits for AllocateExtent, one Raft commit in metad (about 20-30 ms
 * on the project machine), while every write queued behind it into that extent waits too. A
 * writer going through a volume in order (a prefill, a copy, a restore) can ask one extent early
 * (volumes opened with allocateAhead, as the NBD agent opens its writers):
 * once a write that continues the previous one reaches the last `aheadBytes` of its extent, the
 * SDK sends AllocateExtent for the next extent in the background, so the call is usually answered
 * by the time the writes get there. metad's leader still decides the placement, as for any
 * first write; the SDK only asks sooner.
 *
 * Invariants of a returned index i for a write in extent e:
 * - i === e + 1: never more than one extent ahead, never behind;
 * - i * extentSizeBytes < volumeSizeBytes: inside the volume;
 * - the write started where the previous write ended (sequential) and ends within the last
 *   min(aheadBytes, extentSizeBytes / 2) bytes of extent e.
 * So a writer that stops allocates at most one extent it never writes, and random writes allocate
 * nothing early.
 */
export interface AheadInput {
  /** Where the previous write of this volume ended (volume offset); -1 before the first. */
  readonly previousEnd: number;
  readonly offset: number;
  readonly length: number;
  readonly extentSizeBytes: number;
  readonly volumeSizeBytes: number;
  /** How far before an extent's end a sequential write triggers the next extent's allocation. */
  readonly aheadBytes: number;
}

/** The extent to allocate ahead of this write, or undefined. */
export function allocateAheadIndex(w: AheadInput): number | undefined {
  if (w.length <= 0 || w.offset !== w.previousEnd) return undefined;
  const end = w.offset + w.length;
  const index = Math.floor((end - 1) / w.extentSizeBytes);
  const next = index + 1;
  if (next * w.extentSizeBytes >= w.volumeSizeBytes) return undefined;
  const window = Math.min(w.aheadBytes, w.extentSizeBytes / 2);
  return next * w.extentSizeBytes - end < window ? next : undefined;
}

/** Why a decision breaks an invariant above, or undefined when it keeps them all. */
export function aheadViolation(w: AheadInput, decided: number | undefined): string | undefined {
  if (decided === undefined) return undefined;
  const end = w.offset + w.length;
  const index = Math.floor((end - 1) / w.extentSizeBytes);
  if (decided !== index + 1) return `allocates extent ${decided} for a write ending in extent ${index}`;
  if (decided * w.extentSizeBytes >= w.volumeSizeBytes) return `extent ${decided} is past the volume's end`;
  if (w.offset !== w.previousEnd) return 'allocates ahead for a write that does not continue the previous one';
  if ((index + 1) * w.extentSizeBytes - end >= Math.min(w.aheadBytes, w.extentSizeBytes / 2)) return 'allocates ahead for a write far from its extent\'s end';
  return undefined;
}
