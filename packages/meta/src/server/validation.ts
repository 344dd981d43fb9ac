import { BasaltError, ErrorCode, invalidArgument, limits } from '@basalt/stdx';
import { parseHostPort } from '@basalt/wire';
import { validateCommandArgs } from '../state/index.js';
import type { Command } from '../state/index.js';
import { checkServerId, checkUint, checkVolumeName } from '../state/validate.js';

/**
 * Checks at the gRPC boundary. Commands are checked with the state machine's own argument
 * checks before they are proposed, so bad input never reaches the log.
 */
export function checkCommand<C extends Command>(cmd: C): C {
  const error = validateCommandArgs(cmd);
  if (error !== null) throw new BasaltError(error.code, error.message, { ...error.details });
  return cmd;
}

export function checkName(name: string): string {
  const error = checkVolumeName(name);
  if (error !== null) throw new BasaltError(error.code, error.message, { ...error.details });
  return name;
}

export function checkServer(serverId: string): string {
  const error = checkServerId(serverId);
  if (error !== null) throw new BasaltError(error.code, error.message, { ...error.details });
  return serverId;
}

export function checkIndex(what: string, value: number): number {
  const error = checkUint(what, value);
  if (error !== null) throw new BasaltError(error.code, error.message, { ...error.details });
  return value;
}

/** A ListVolumes page size: 1..limits.volumesPageMax (0, every volume, is handled by the caller). */
export function checkPageLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > limits.volumesPageMax) {
    throw invalidArgument(`limit ${limit} must be an integer from 0 (all) to ${limits.volumesPageMax}`, { limit, max: limits.volumesPageMax });
  }
  return limit;
}

/** count 0 means "the most allowed". */
export function checkCount(count: number): number {
  if (count === 0) return limits.extentMapCountMax;
  if (!Number.isSafeInteger(count) || count < 0 || count > limits.extentMapCountMax) {
    throw invalidArgument(`count ${count} must be an integer from 0 (all) to ${limits.extentMapCountMax}`, { count, max: limits.extentMapCountMax });
  }
  return count;
}

const memberIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function checkMemberId(id: string): string {
  if (id.length === 0 || id.length > limits.memberIdBytesMax || !memberIdPattern.test(id)) {
    throw invalidArgument(`bad member id ${JSON.stringify(id.slice(0, 80))}: use 1 to ${limits.memberIdBytesMax} ASCII letters, digits, ".", "_", "-", starting with a letter or digit`, { id });
  }
  return id;
}

export function checkMemberAddress(address: string): string {
  parseHostPort(address, 'address');
  return address;
}

/** Optional proto3 strings decode as null when absent. */
export function optionalString(value: string | null | undefined): string | null {
  return value ?? null;
}

export function memberExists(exists: boolean, id: string): void {
  if (!exists) throw new BasaltError(ErrorCode.MemberNotFound, `no member with id "${id}"`, { id });
}
