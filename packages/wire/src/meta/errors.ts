import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError, StatusObject } from '@grpc/grpc-js';
import { BasaltError, ErrorCode, errorFromWire } from '@basalt/stdx';

/**
 * How a BasaltError travels over gRPC: a gRPC status chosen from the code (so generic tools
 * see something sensible) plus trailers that carry the stable Basalt code and its details.
 * This is the only error channel of the Meta service; replies have no error fields.
 */
export const trailer = {
  code: 'basalt-code',
  details: 'basalt-details',
  leaderId: 'basalt-leader-id',
  leaderAddress: 'basalt-leader-address',
} as const;

const grpcStatusOf: Partial<Record<ErrorCode, GrpcStatus>> = {
  [ErrorCode.InvalidArgument]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.NotLeader]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.Unavailable]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.Timeout]: GrpcStatus.DEADLINE_EXCEEDED,
  [ErrorCode.VolumeNotFound]: GrpcStatus.NOT_FOUND,
  [ErrorCode.ServerNotFound]: GrpcStatus.NOT_FOUND,
  [ErrorCode.MemberNotFound]: GrpcStatus.NOT_FOUND,
  [ErrorCode.VolumeExists]: GrpcStatus.ALREADY_EXISTS,
  [ErrorCode.OutOfRange]: GrpcStatus.OUT_OF_RANGE,
  [ErrorCode.NoSpace]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.LimitExceeded]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.NotEnoughServers]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.Closed]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.Io]: GrpcStatus.INTERNAL,
  [ErrorCode.Unauthenticated]: GrpcStatus.UNAUTHENTICATED,
  [ErrorCode.PermissionDenied]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.QuotaExceeded]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.TenantNotFound]: GrpcStatus.NOT_FOUND,
  [ErrorCode.TenantExists]: GrpcStatus.ALREADY_EXISTS,
};

/**
 * A BasaltError as the fields both Meta transports carry (gRPC trailers, MetaCallError frames):
 * the code, the message, the leader hints, and the other details as JSON. An empty string is an
 * absent field.
 */
export interface ErrorFields {
  code: string;
  message: string;
  details: string;
  leaderId: string;
  leaderAddress: string;
}

export function errorFields(err: BasaltError): ErrorFields {
  const { leaderId, leaderAddress, ...rest } = err.details;
  return {
    code: err.code,
    message: err.message,
    details: Object.keys(rest).length > 0 ? printable(JSON.stringify(rest)) : '',
    leaderId: typeof leaderId === 'string' ? printable(leaderId) : '',
    leaderAddress: typeof leaderAddress === 'string' ? printable(leaderAddress) : '',
  };
}

/** The BasaltError that `errorFields` carried, with `details` added to the ones it carried. */
export function errorOfFields(fields: ErrorFields, details: Record<string, unknown>): BasaltError {
  const all: Record<string, unknown> = { ...details };
  if (fields.details !== '') Object.assign(all, parseDetails(fields.details));
  if (fields.leaderId !== '') all.leaderId = fields.leaderId;
  if (fields.leaderAddress !== '') all.leaderAddress = fields.leaderAddress;
  return errorFromWire(fields.code, fields.message, all);
}

/** Turns a BasaltError into the status object a grpc-js unary handler passes to its callback. */
export function toGrpcError(err: BasaltError): Partial<StatusObject> {
  const fields = errorFields(err);
  const metadata = new Metadata();
  metadata.set(trailer.code, fields.code);
  if (fields.leaderId !== '') metadata.set(trailer.leaderId, fields.leaderId);
  if (fields.leaderAddress !== '') metadata.set(trailer.leaderAddress, fields.leaderAddress);
  if (fields.details !== '') metadata.set(trailer.details, fields.details);
  return { code: grpcStatusOf[err.code] ?? GrpcStatus.FAILED_PRECONDITION, details: fields.message, metadata };
}

/**
 * A metadata value gRPC accepts (printable ASCII only: grpc-js throws on anything else). Details
 * echo the caller's input, which may be any Unicode: other characters become JSON \u escapes,
 * which JSON.parse on the client turns back (leader hints are ASCII member ids and addresses).
 */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Turns a failed call into a BasaltError. A status without a Basalt code comes from the transport
 * (connection refused, deadline): UNAVAILABLE and DEADLINE_EXCEEDED map to BASALT_UNAVAILABLE and
 * BASALT_TIMEOUT; anything else to BASALT_IO. `details.grpcStatus` keeps the original status.
 */
export function fromGrpcError(err: ServiceError, address: string): BasaltError {
  const code = firstString(err.metadata, trailer.code);
  const details: Record<string, unknown> = { address, grpcStatus: err.code };
  if (code === undefined) return transportError(err, details);
  return errorOfFields({
    code,
    message: err.details,
    details: firstString(err.metadata, trailer.details) ?? '',
    leaderId: firstString(err.metadata, trailer.leaderId) ?? '',
    leaderAddress: firstString(err.metadata, trailer.leaderAddress) ?? '',
  }, details);
}

function transportError(err: ServiceError, details: Record<string, unknown>): BasaltError {
  const message = `${address(details)}: ${err.details || GrpcStatus[err.code]}`;
  if (err.code === GrpcStatus.UNAVAILABLE && tlsRefusal.test(err.details)) return new BasaltError(ErrorCode.Unauthenticated, `${message} (TLS handshake refused)`, details);
  if (err.code === GrpcStatus.UNAVAILABLE) return new BasaltError(ErrorCode.Unavailable, message, details);
  if (err.code === GrpcStatus.DEADLINE_EXCEEDED) return new BasaltError(ErrorCode.Timeout, message, details);
  if (err.code === GrpcStatus.CANCELLED) return new BasaltError(ErrorCode.Closed, message, details);
  return new BasaltError(ErrorCode.Io, message, details);
}

/** How grpc-js words a connection that failed its TLS handshake over a certificate (either side's). */
const tlsRefusal = /certificate|alert|SSL routines|wrong version number|revoked|Basalt identit/i;

function address(details: Record<string, unknown>): string {
  return typeof details.address === 'string' ? details.address : '?';
}

function firstString(metadata: Metadata | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}

function parseDetails(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
