import { assert, BasaltError, ErrorCode } from '@basalt/stdx';
import { compareStamps } from '@basalt/wire';

/**
 * The snapshots of one extent replica and the rules that keep their blocks (docs/snapshots.md).
 *
 * A snapshot of an extent is a mark: the stamp the primary assigned to the SNAPSHOT op in the
 * extent's write stream, recorded by every member. Marks are kept oldest first; stamps of one
 * extent grow with time, so that is also the order of their stamps.
 *
 * Invariants:
 * - Copy-on-write goes to the newest mark only: a block whose stamp is at most the newest mark is
 *   preserved (old data, CRC and stamp) in that snapshot's layer before it is overwritten; the
 *   overwrite stamps it above the mark, so it is preserved once.
 * - The version of block b as of mark M is the first record of b in the layers of the marks from
 *   M on (oldest first), else the extent's block. A record found there has a stamp at most M.
 * - Deleting mark M moves each record of M's layer whose stamp is at most the previous mark into
 *   the previous mark's layer (which cannot hold that block yet) and drops the rest.
 */
export interface SnapshotMark {
  /** The volume's snapshot id (metad), unique for the life of the volume. */
  readonly id: number;
  readonly epoch: number;
  readonly seq: number;
}

export function newestMark(marks: readonly SnapshotMark[] | undefined): SnapshotMark | undefined {
  return marks === undefined || marks.length === 0 ? undefined : marks[marks.length - 1];
}

/** Whether a block with this stamp is part of the mark's snapshot (written at or before it). */
export function heldBy(mark: SnapshotMark, epoch: number, seq: number): boolean {
  return compareStamps(epoch, seq, mark.epoch, mark.seq) <= 0;
}

/** The marks whose layers a read as of snapshot `id` looks in, in order; undefined if there is no such mark. */
export function layersFrom(marks: readonly SnapshotMark[] | undefined, id: number): readonly SnapshotMark[] | undefined {
  const at = (marks ?? []).findIndex((m) => m.id === id);
  return at < 0 ? undefined : marks!.slice(at);
}

/**
 * The marks with one more, in stamp order: normally the newest (SNAPSHOT in the write stream);
 * an older one when a rebuild gives a member the primary's marks. The same marks when `mark.id`
 * is already there (a repeated SNAPSHOT).
 */
export function withMark(marks: readonly SnapshotMark[] | undefined, mark: SnapshotMark): readonly SnapshotMark[] {
  const list = marks ?? [];
  if (list.some((m) => m.id === mark.id)) return list;
  assert(!list.some((m) => m.epoch === mark.epoch && m.seq === mark.seq), 'two snapshot marks never share a stamp');
  const at = list.findIndex((m) => compareStamps(mark.epoch, mark.seq, m.epoch, m.seq) < 0);
  return at < 0 ? [...list, mark] : [...list.slice(0, at), mark, ...list.slice(at)];
}

/** The marks without `id`, and the mark just older than it (whose layer inherits what it still needs). */
export function withoutMark(marks: readonly SnapshotMark[] | undefined, id: number): { marks: readonly SnapshotMark[]; previous: SnapshotMark | undefined } | undefined {
  const list = marks ?? [];
  const at = list.findIndex((m) => m.id === id);
  if (at < 0) return undefined;
  return { marks: [...list.slice(0, at), ...list.slice(at + 1)], previous: at > 0 ? list[at - 1] : undefined };
}

/**
 * Whether a block whose stamp as of `to` is (epoch, seq) differs from its version as of `from`:
 * written after `from`'s mark, or (no `from`: a full diff) ever written.
 */
export function changedSince(from: SnapshotMark | undefined, epoch: number, seq: number): boolean {
  if (from === undefined) return epoch !== 0 || seq !== 0;
  return !heldBy(from, epoch, seq);
}

/**
 * The marks whose layers hold a block's version as of `from` when it was overwritten before
 * `to` (undefined: now): from `from` up to `to`, without it. Undefined when either is no mark.
 */
export function layersBetween(marks: readonly SnapshotMark[] | undefined, from: number, to: number | undefined): readonly SnapshotMark[] | undefined {
  const list = marks ?? [];
  const start = list.findIndex((m) => m.id === from);
  const end = to === undefined ? list.length : list.findIndex((m) => m.id === to);
  return start < 0 || end < 0 ? undefined : list.slice(start, Math.max(start, end));
}

/**
 * Whether a block changed between snapshot `from` and `to`, given its version as of `to` (stamp
 * and CRC) and `before`, the record a layer between them (layersBetween) holds of it, if any:
 * changedSince by stamps, or a record whose CRC is not the version's. A write whose data reached
 * the disk and whose stamp did not (a crash between the two) leaves the stamp of what it
 * overwrote on new data; the record copy-on-write made of the old data before the write tells
 * them apart, as one stamp never names two contents of a block.
 */
export function changedBetween(from: SnapshotMark, epoch: number, seq: number, crc: number, before: { readonly crc: number } | undefined): boolean {
  return changedSince(from, epoch, seq) || (before !== undefined && before.crc !== crc);
}

/**
 * What a diff from snapshot `from` (undefined: a volume never written) to `to` (undefined: now)
 * reads, for both stores: `fromMark`, the layers that hold the blocks as of `to` (layersFrom), and
 * those between the two (layersBetween). BASALT_SNAPSHOT_NOT_FOUND when either is no mark.
 */
export function diffLayers(marks: readonly SnapshotMark[] | undefined, volumeId: number, index: number, from: number | undefined, to: number | undefined): { fromMark: SnapshotMark | undefined; marks: readonly SnapshotMark[]; between: readonly SnapshotMark[] } {
  const fromMark = from === undefined ? undefined : marks?.find((m) => m.id === from);
  if (from !== undefined && fromMark === undefined) throw snapshotNotFound(volumeId, index, from);
  const upTo = to === undefined ? [] : layersFrom(marks, to);
  if (upTo === undefined) throw snapshotNotFound(volumeId, index, to!);
  return { fromMark, marks: upTo, between: from === undefined ? [] : layersBetween(marks, from, to) ?? [] };
}

export function snapshotNotFound(volumeId: number, index: number, id: number): BasaltError {
  return new BasaltError(ErrorCode.SnapshotNotFound, `extent ${volumeId}/${index} has no snapshot ${id} on this chunk server`, { volumeId, index, snapshot: id });
}
