import { ErrorCode, limits } from '@basalt/stdx';
import type { ReportFlattenCommand, RequestFlattenCommand, RequestSnapshotCommand } from './commands.js';
import { findVolume } from './lookup.js';
import { snapsOf, type SnapshotRecord, type StateData, type VolumeRecord } from './records.js';
import { fail, ok, type Result } from './result.js';
import { snapshotView, volumeView } from './view-of.js';
import type { SnapshotView, VolumeView } from './views.js';

/**
 * Requests to a volume's lease holder (docs/snapshots.md, "Requests to the lease holder"). Only
 * the writer can cut a snapshot at a point of its own stream, and only it may write a clone; a
 * third party therefore asks it through metad, which owns the request's state, and the holder
 * finds the request when it polls (GetVolume lists them).
 *
 * - A snapshot request is a snapshot record in state 'requested' (id 0, no extents), so its name
 *   is taken at once and every list shows it. The holder's CreateSnapshot with `requested` turns
 *   it into 'creating' (the usual flow from there); the asker cancels it with DeleteSnapshot with
 *   `requested`, which only removes a record still 'requested', so a holder that took it already
 *   finishes, and one that comes late is refused (nothing is taken for a cancelled request).
 * - A flatten request sits on the clone's parent record (`parent.flatten`) with the holder's
 *   progress; FlattenVolume (the holder's, at the end) removes it with the parent.
 *
 * Invariants (checkInvariants, invariants.ts):
 * - a 'requested' snapshot has id 0, no extents, no clones, is not hidden, names who asked; a
 *   snapshot in another state names no one;
 * - at most limits.snapshotRequestsPerVolumeMax 'requested' snapshots per volume;
 * - a flatten request's doneBytes <= totalBytes.
 * Requests are filed only while someone holds the volume's writer lease (BASALT_NO_LEASE_HOLDER
 * otherwise); they outlive a change of holder (a forced takeover serves them) and a lease release.
 */

export function applyRequestSnapshot(data: StateData, cmd: RequestSnapshotCommand): Result<SnapshotView> {
  const found = heldVolume(data, cmd.name);
  if (!found.ok) return found;
  const volume = found.value;
  const snaps = snapsOf(volume);
  const existing = snaps.snapshots.get(cmd.snapshot);
  if (existing?.state === 'requested') return ok(snapshotView(volume, existing));
  if (existing !== undefined) {
    return fail(ErrorCode.SnapshotExists, `volume ${volume.name} already has a snapshot named ${JSON.stringify(cmd.snapshot)}`, { volume: volume.name, snapshot: cmd.snapshot });
  }
  if (snaps.snapshots.size >= limits.snapshotsPerVolumeMax) {
    return fail(ErrorCode.LimitExceeded, `volume ${volume.name} already has ${limits.snapshotsPerVolumeMax} snapshots, the most allowed`, { volume: volume.name, max: limits.snapshotsPerVolumeMax });
  }
  if (requestedCount(volume) >= limits.snapshotRequestsPerVolumeMax) {
    return fail(ErrorCode.LimitExceeded, `volume ${volume.name} already has ${limits.snapshotRequestsPerVolumeMax} snapshot requests its lease holder has not taken`, { volume: volume.name, max: limits.snapshotRequestsPerVolumeMax });
  }
  const snap: SnapshotRecord = { id: 0, name: cmd.snapshot, createdAtMs: cmd.nowMs, state: 'requested', requestedBy: cmd.requestedBy, sizeBytes: 0, extents: [], clones: 0, hidden: false };
  snaps.snapshots.set(snap.name, snap);
  return ok(snapshotView(volume, snap));
}

/** Files (or with `cancel` withdraws) a background flatten of a clone; filing twice keeps the first request and its progress. */
export function applyRequestFlatten(data: StateData, cmd: RequestFlattenCommand): Result<VolumeView> {
  const found = cmd.cancel === true ? findVolume(data, cmd.name) : heldVolume(data, cmd.name);
  if (!found.ok) return found;
  const volume = found.value;
  const parent = volume.snaps?.parent ?? null;
  if (parent === null) return fail(ErrorCode.InvalidArgument, `volume ${volume.name} is no clone: there is nothing to flatten`, { volume: volume.name });
  if (cmd.cancel === true) parent.flatten = undefined;
  else parent.flatten ??= { requestedBy: cmd.requestedBy, requestedAtMs: cmd.nowMs, bytesPerSec: cmd.bytesPerSec, doneBytes: 0, totalBytes: 0 };
  return ok(volumeView(volume));
}

/** The holder's progress; refused for a holder that lost the lease (LEASE_FENCED) and for a withdrawn request (INVALID_ARGUMENT: the holder stops). */
export function applyReportFlatten(data: StateData, cmd: ReportFlattenCommand): Result<VolumeView> {
  const found = findVolume(data, cmd.name);
  if (!found.ok) return found;
  const volume = found.value;
  if (volume.lease === null || volume.generation !== cmd.generation) {
    return fail(ErrorCode.LeaseFenced, `the writer lease of volume ${volume.name} is no longer at generation ${cmd.generation}`, { volume: volume.name, generation: cmd.generation });
  }
  const request = volume.snaps?.parent?.flatten;
  if (request === undefined) return fail(ErrorCode.InvalidArgument, `volume ${volume.name} has no background flatten request (withdrawn, or no clone)`, { volume: volume.name });
  request.doneBytes = cmd.doneBytes;
  request.totalBytes = cmd.totalBytes;
  return ok(volumeView(volume));
}

function requestedCount(volume: VolumeRecord): number {
  let n = 0;
  for (const s of volume.snaps?.snapshots.values() ?? []) if (s.state === 'requested') n++;
  return n;
}

/** The volume, if someone holds its writer lease: a request needs someone to answer it. */
function heldVolume(data: StateData, name: string): Result<VolumeRecord> {
  const found = findVolume(data, name);
  if (!found.ok) return found;
  if (found.value.lease === null) {
    return fail(ErrorCode.NoLeaseHolder, `volume ${name} has no writer lease holder to ask: take the lease and do it directly`, { volume: name });
  }
  return found;
}
