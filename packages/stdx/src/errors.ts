/**
 * Operational errors with stable codes. A code is part of the public API:
 * never rename one, only add. Each code is documented in docs/errors.md.
 */
export const ErrorCode = {
  InvalidArgument: 'BASALT_INVALID_ARGUMENT',
  NotLeader: 'BASALT_NOT_LEADER',
  Unavailable: 'BASALT_UNAVAILABLE',
  Timeout: 'BASALT_TIMEOUT',
  VolumeNotFound: 'BASALT_VOLUME_NOT_FOUND',
  VolumeExists: 'BASALT_VOLUME_EXISTS',
  VolumeBusy: 'BASALT_VOLUME_BUSY',
  LeaseConflict: 'BASALT_LEASE_CONFLICT',
  LeaseFenced: 'BASALT_LEASE_FENCED',
  StaleEpoch: 'BASALT_STALE_EPOCH',
  OutOfRange: 'BASALT_OUT_OF_RANGE',
  NoSpace: 'BASALT_NO_SPACE',
  Checksum: 'BASALT_CHECKSUM',
  Io: 'BASALT_IO',
  Protocol: 'BASALT_PROTOCOL',
  NotEnoughServers: 'BASALT_NOT_ENOUGH_SERVERS',
  ServerNotFound: 'BASALT_SERVER_NOT_FOUND',
  MemberNotFound: 'BASALT_MEMBER_NOT_FOUND',
  ReadOnly: 'BASALT_READ_ONLY',
  Closed: 'BASALT_CLOSED',
  /** The operation cannot be done the way it was asked (e.g. a fast zero the device cannot do fast). */
  NotSupported: 'BASALT_NOT_SUPPORTED',
  ShrinkNotAllowed: 'BASALT_SHRINK_NOT_ALLOWED',
  CompareFailed: 'BASALT_COMPARE_FAILED',
  ServerBusy: 'BASALT_SERVER_BUSY',
  LastReplica: 'BASALT_LAST_REPLICA',
  ReplicaNotFound: 'BASALT_REPLICA_NOT_FOUND',
  ExtentNotAllocated: 'BASALT_EXTENT_NOT_ALLOCATED',
  LimitExceeded: 'BASALT_LIMIT_EXCEEDED',
  /** A data-plane write went to a chunk server that is not the extent's primary. */
  NotPrimary: 'BASALT_NOT_PRIMARY',
  /** metad refused a request without applying it (transfer or membership change in progress, overload); retry. */
  Busy: 'BASALT_BUSY',
  /** The local cluster a cluster file names is not running: its processes are gone and no metad port answers. */
  ClusterNotRunning: 'BASALT_CLUSTER_NOT_RUNNING',
  /** The peer proved no acceptable identity: no certificate, another CA's, expired, or revoked. */
  Unauthenticated: 'BASALT_UNAUTHENTICATED',
  /** The caller's identity may not do this: its role, its tenant or its capability does not allow it. */
  PermissionDenied: 'BASALT_PERMISSION_DENIED',
  /** An encrypted volume's data key cannot be had: no key provider, its KEK file missing or unsafe, or another KEK id. */
  KeyUnavailable: 'BASALT_KEY_UNAVAILABLE',
  /** The key provider's KEK did not unwrap the volume's data key: the wrong KEK, or a damaged wrapped key. */
  KeyMismatch: 'BASALT_KEY_MISMATCH',
  /** A tenant's quota (bytes or volume count) would be exceeded by a create or a resize. */
  QuotaExceeded: 'BASALT_QUOTA_EXCEEDED',
  TenantNotFound: 'BASALT_TENANT_NOT_FOUND',
  TenantExists: 'BASALT_TENANT_EXISTS',
  /** A tenant cannot be removed while it owns volumes. */
  TenantNotEmpty: 'BASALT_TENANT_NOT_EMPTY',
  /** No snapshot of that volume has that name (or id), or it is not ready to be read. */
  SnapshotNotFound: 'BASALT_SNAPSHOT_NOT_FOUND',
  /** The volume already has a snapshot with that name. */
  SnapshotExists: 'BASALT_SNAPSHOT_EXISTS',
  /** A diff file is malformed, fails its checksums, or does not fit the volume it is applied to. */
  DiffInvalid: 'BASALT_DIFF_INVALID',
  /** A request to a volume's lease holder (a snapshot) was not completed in time; it was cancelled. */
  HolderTimeout: 'BASALT_HOLDER_TIMEOUT',
  /** A request for the lease holder was filed on a volume that has none (take the lease and do it yourself). */
  NoLeaseHolder: 'BASALT_NO_LEASE_HOLDER',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const knownCodes = new Set<string>(Object.values(ErrorCode));

export class BasaltError extends Error {
  override readonly name: string = 'BasaltError';
  readonly code: ErrorCode;
  /** Structured facts for callers and logs, e.g. { volume: 'db1' }. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isBasaltError(err: unknown, code?: ErrorCode): err is BasaltError {
  return err instanceof BasaltError && (code === undefined || err.code === code);
}

export function isErrorCode(code: string): code is ErrorCode {
  return knownCodes.has(code);
}

/** Rebuilds a BasaltError received over the wire; unknown codes become BASALT_IO. */
export function errorFromWire(code: string, message: string, details: Record<string, unknown> = {}): BasaltError {
  return new BasaltError(isErrorCode(code) ? code : ErrorCode.Io, message, details);
}

export function invalidArgument(message: string, details: Record<string, unknown> = {}): BasaltError {
  return new BasaltError(ErrorCode.InvalidArgument, message, details);
}
