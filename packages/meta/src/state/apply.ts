import { unreachable } from '@basalt/stdx';
import { applyAcquireLease, applyReleaseLease } from './apply-leases.js';
import { applyHeartbeat, applyMarkServer, applyMarkServerOut, applyRegisterServer, applyRemoveServer, applySetServerDraining } from './apply-servers.js';
import { applyAllocateExtent } from './apply-extents.js';
import { applyRevokeCertificate } from './apply-revocations.js';
import { applyAddRebuilding, applyDropReplica, applyPromoteReplica } from './apply-members.js';
import { applyCreateTenant, applyDeleteTenant, applySetTenantQuota } from './apply-tenants.js';
import { applyCloneVolume, applyCommitSnapshot, applyCreateSnapshot, applyDeleteSnapshot, applyFlattenVolume } from './apply-snapshots.js';
import { applyReportFlatten, applyRequestFlatten, applyRequestSnapshot } from './apply-holder-requests.js';
import { applyCreateVolume, applyDeleteVolume, applyResizeVolume, applySetLabel } from './apply-volumes.js';
import type { Command, CommandValue } from './commands.js';
import type { StateData } from './records.js';
import type { Result } from './result.js';
import { validateCommandArgs } from './validate.js';

/**
 * Applies one command: argument checks first, then the handler, which checks against the
 * state before it changes anything. A refused command leaves the state exactly as it was.
 */
export function applyCommand<C extends Command>(data: StateData, cmd: C): Result<CommandValue<C>> {
  const invalid = validateCommandArgs(cmd);
  if (invalid !== null) return { ok: false, error: invalid };
  return dispatch(data, cmd) as Result<CommandValue<C>>;
}

function dispatch(data: StateData, cmd: Command): Result<CommandValue<Command>> {
  switch (cmd.type) {
    case 'registerServer':
      return applyRegisterServer(data, cmd);
    case 'heartbeat':
      return applyHeartbeat(data, cmd);
    case 'markServerDown':
    case 'markServerUp':
      return applyMarkServer(data, cmd);
    case 'setServerDraining':
      return applySetServerDraining(data, cmd);
    case 'removeServer':
      return applyRemoveServer(data, cmd);
    case 'markServerOut':
      return applyMarkServerOut(data, cmd);
    case 'createVolume':
      return applyCreateVolume(data, cmd);
    case 'resizeVolume':
      return applyResizeVolume(data, cmd);
    case 'deleteVolume':
      return applyDeleteVolume(data, cmd);
    case 'setLabel':
      return applySetLabel(data, cmd);
    case 'allocateExtent':
      return applyAllocateExtent(data, cmd);
    case 'dropReplica':
      return applyDropReplica(data, cmd);
    case 'addRebuilding':
      return applyAddRebuilding(data, cmd);
    case 'promoteReplica':
      return applyPromoteReplica(data, cmd);
    case 'acquireLease':
      return applyAcquireLease(data, cmd);
    case 'releaseLease':
      return applyReleaseLease(data, cmd);
    case 'createTenant':
      return applyCreateTenant(data, cmd);
    case 'deleteTenant':
      return applyDeleteTenant(data, cmd);
    case 'setTenantQuota':
      return applySetTenantQuota(data, cmd);
    case 'revokeCertificate':
      return applyRevokeCertificate(data, cmd);
    case 'createSnapshot':
      return applyCreateSnapshot(data, cmd);
    case 'commitSnapshot':
      return applyCommitSnapshot(data, cmd);
    case 'deleteSnapshot':
      return applyDeleteSnapshot(data, cmd);
    case 'cloneVolume':
      return applyCloneVolume(data, cmd);
    case 'flattenVolume':
      return applyFlattenVolume(data, cmd);
    case 'requestSnapshot':
      return applyRequestSnapshot(data, cmd);
    case 'requestFlatten':
      return applyRequestFlatten(data, cmd);
    case 'reportFlatten':
      return applyReportFlatten(data, cmd);
    default:
      return unreachable(cmd, 'unknown command type');
  }
}
