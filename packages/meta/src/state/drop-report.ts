import { dropRefusal, findAtEpoch } from './apply-members.js';
import type { DropReplicaCommand } from './commands.js';
import type { StateData } from './records.js';
import { ok, type Result } from './result.js';
import { checkDropReason } from './validate.js';

/** A failure report (proto DropReplicaRequest): a primary's failed member, a client's silent primary. */
export interface DropReport {
  readonly volume: string;
  readonly index: number;
  readonly serverId: string;
  readonly expectedEpoch: number;
  /** What the reporter saw; empty means "unreachable". */
  readonly reason: string;
}

/**
 * The leader's decision on a report, before anything is proposed: drop when the epoch matches
 * and the member is not the last active one (a rebuilding member may always be dropped);
 * otherwise the refusal the reporter gets (BASALT_STALE_EPOCH: re-read the set;
 * BASALT_LAST_REPLICA: keep using the member). apply() checks the same again at commit, so a
 * decision on an older state is never applied to a newer one. The dropped server goes to
 * `former` unless it is out (see dropMember).
 */
export function decideDropReport(data: StateData, report: DropReport): Result<DropReplicaCommand> {
  const reason: string = report.reason === '' ? 'unreachable' : report.reason;
  const badReason = checkDropReason(reason);
  if (badReason !== null) return { ok: false, error: badReason };
  const found = findAtEpoch(data, report.volume, report.index, report.expectedEpoch);
  if (!found.ok) return found;
  const { volume, extent } = found.value;
  const refusal = dropRefusal(volume, report.index, extent, report.serverId);
  if (refusal !== null) return refusal;
  return ok({ type: 'dropReplica', name: volume.name, index: report.index, serverId: report.serverId, expectedEpoch: extent.epoch, reason });
}

/** Reasons that say a server did not answer (not that one disk failed): evidence about the server, not one extent. */
const silentReasons: ReadonlySet<string> = new Set(['unreachable', 'timeout']);

/**
 * The leader's decision on a client's report of a silent primary, for the whole volume at once:
 * the reported extent's drop as decideDropReport decides it (its refusal refuses the whole
 * report), then, when the reported server is that extent's primary and the reason says it did
 * not answer, a drop of the same server from every other extent of the same volume that it leads
 * and may leave (not its last active member), each at its own current epoch, in allocation
 * order, at most `max` commands in all. Each command is an ordinary dropReplica: apply() checks its epoch and
 * the last-member rule again, so one that the state moved past is refused alone. A report names
 * one volume: a client fails over only what it may change (authorization is per volume).
 */
export function decideFailover(data: StateData, report: DropReport, max: number): Result<DropReplicaCommand[]> {
  const first = decideDropReport(data, report);
  if (!first.ok) return first;
  const cmd = first.value;
  const volume = data.volumes.get(cmd.name);
  const reported = volume?.extents.get(cmd.index);
  if (volume === undefined || reported === undefined || reported.replicas[0] !== cmd.serverId || !silentReasons.has(cmd.reason ?? 'unreachable')) return ok([cmd]);
  const out: DropReplicaCommand[] = [cmd];
  // Allocation order (the map's): the commands name their extents, so replicas need not agree on it, and no sort of a large volume's keys.
  for (const [index, extent] of volume.extents) {
    if (out.length >= max) break;
    if (index === cmd.index || extent.replicas[0] !== cmd.serverId || dropRefusal(volume, index, extent, cmd.serverId) !== null) continue;
    out.push({ ...cmd, index, expectedEpoch: extent.epoch });
  }
  return ok(out);
}
