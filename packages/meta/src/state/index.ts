/**
 * The metadata state machine: pure, deterministic, synchronous. The metad server proposes
 * encodeCommand(cmd) to Raft, calls state.apply(decodeCommand(entry)) for every committed
 * entry in order, answers queries after a ReadIndex, and snapshots with encodeSnapshot.
 * See docs/metadata.md, "State machine".
 */
export { MetaState } from './meta-state.js';
export type {
  Command,
  CommandType,
  CommandValue,
  CommandValues,
  CreateVolumeInput,
  RegisterServerCommand,
  HeartbeatCommand,
  MarkServerDownCommand,
  MarkServerUpCommand,
  SetServerDrainingCommand,
  RemoveServerCommand,
  CreateVolumeCommand,
  ResizeVolumeCommand,
  DeleteVolumeCommand,
  SetLabelCommand,
  AllocateExtentCommand,
  DropReplicaCommand,
  AddRebuildingCommand,
  PromoteReplicaCommand,
  MarkServerOutCommand,
  AcquireLeaseCommand,
  ReleaseLeaseCommand,
  CreateTenantCommand,
  DeleteTenantCommand,
  SetTenantQuotaCommand,
  CreateSnapshotCommand,
  CommitSnapshotCommand,
  DeleteSnapshotCommand,
  CloneVolumeCommand,
  FlattenVolumeCommand,
} from './commands.js';
export { defaultTenant } from './records.js';
export { authorizeCall, authorizeVolume, callRules, isTenantBound, raftStreamMethod, tenantForCreate, tenantForListing, tenantOf } from './authz.js';
export type { AuthorizedMethod, CallRule, CallScope } from './authz.js';
export { createVolumeCommand } from './commands.js';
export { encodeCommand, decodeCommand, commandFormatVersion } from './command-codec.js';
export { concatPieces, snapshotFormatVersion } from './snapshot.js';
export { validateCommandArgs } from './validate.js';
export { placeReplicas } from './placement.js';
export { suspectServers } from './repair-planner.js';
export type { PlannedCommand, PlannerFacts } from './repair-planner.js';
export type { DropReport } from './drop-report.js';
export { dropReasons } from './validate.js';
export type { DropReason } from './validate.js';
export type { PlacementCandidate, PlacementRequest } from './placement.js';
export { ok, fail, unwrap } from './result.js';
export type { Result, StateError } from './result.js';
export type * from './views.js';
