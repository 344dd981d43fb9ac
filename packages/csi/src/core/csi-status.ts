import { ErrorCode } from '@basalt/stdx';

/** The gRPC status codes the CSI specification names (numbers as in grpc's status.proto). */
export const Code = {
  invalidArgument: 3,
  notFound: 5,
  alreadyExists: 6,
  resourceExhausted: 8,
  failedPrecondition: 9,
  aborted: 10,
  outOfRange: 11,
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

/** A CSI call's failure: the status code the specification requires for it and a message. */
export class CsiStatus extends Error {
  constructor(readonly code: Code, message: string) {
    super(message);
    this.name = 'CsiStatus';
  }
}

export function invalid(message: string): CsiStatus {
  return new CsiStatus(Code.invalidArgument, message);
}

/**
 * The status for a Basalt error code the SDK threw: the CSI specification's meaning of each
 * status, for what the code means (a busy volume is a failed precondition, no space is resource
 * exhaustion, an unreachable metad or a volume's writer that did not take a snapshot in time is
 * unavailable so the CO retries).
 */
export function codeForBasalt(code: string): Code {
  switch (code) {
    case ErrorCode.InvalidArgument:
      return Code.invalidArgument;
    case ErrorCode.VolumeNotFound:
    case ErrorCode.SnapshotNotFound:
      return Code.notFound;
    case ErrorCode.VolumeExists:
    case ErrorCode.SnapshotExists:
      return Code.alreadyExists;
    case ErrorCode.VolumeBusy:
    case ErrorCode.LeaseConflict:
    case ErrorCode.NotSupported:
      return Code.failedPrecondition;
    case ErrorCode.NoSpace:
    case ErrorCode.NotEnoughServers:
    case ErrorCode.LimitExceeded:
      return Code.resourceExhausted;
    case ErrorCode.OutOfRange:
      return Code.outOfRange;
    case ErrorCode.NotLeader:
    case ErrorCode.Unavailable:
    case ErrorCode.Timeout:
    case ErrorCode.HolderTimeout:
    case ErrorCode.ClusterNotRunning:
    case ErrorCode.Busy:
      return Code.unavailable;
    default:
      return Code.internal;
  }
}
