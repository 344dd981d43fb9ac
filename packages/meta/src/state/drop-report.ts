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
