import { ErrorCode, isPowerOfTwo, isValidIdentityName, limits, unreachable } from '@basalt/stdx';
import type { Command, CreateVolumeCommand, RegisterServerCommand, SetLabelCommand } from './commands.js';
import type { StateError } from './result.js';

/**
 * Checks a command's arguments on their own, without the state: names, sizes, ranges.
 * apply() runs it first; the server may run it before proposing, to keep bad input out of
 * the log. Returns null when the arguments are acceptable.
 */
export function validateCommandArgs(cmd: Command): StateError | null {
  switch (cmd.type) {
    case 'registerServer':
      return validateRegister(cmd);
    case 'heartbeat':
      return first(checkServerId(cmd.serverId), checkUint('freeBytes', cmd.freeBytes), checkUint('nowMs', cmd.nowMs));
    case 'markServerDown':
    case 'markServerUp':
      return first(checkServerId(cmd.serverId), checkUint('nowMs', cmd.nowMs));
    case 'setServerDraining':
    case 'removeServer':
      return checkServerId(cmd.serverId);
    case 'markServerOut':
      return first(checkServerId(cmd.serverId), checkUint('nowMs', cmd.nowMs));
    case 'createVolume':
      return validateCreate(cmd);
    case 'resizeVolume':
      return first(checkVolumeName(cmd.name), checkVolumeSize(cmd.sizeBytes), checkOptionalTenant(cmd.requireTenant));
    case 'deleteVolume':
      return first(checkVolumeName(cmd.name), checkOptionalTenant(cmd.requireTenant));
    case 'setLabel':
      return validateSetLabel(cmd);
    case 'allocateExtent':
      return first(checkVolumeName(cmd.name), checkUint('index', cmd.index), cmd.minReplicas === undefined ? null : checkMinReplicas(cmd.minReplicas));
    case 'dropReplica':
      return first(checkMemberChange(cmd.name, cmd.index, cmd.serverId, cmd.expectedEpoch), cmd.reason === undefined ? null : checkDropReason(cmd.reason));
    case 'addRebuilding':
    case 'promoteReplica':
      return checkMemberChange(cmd.name, cmd.index, cmd.serverId, cmd.expectedEpoch);
    case 'acquireLease':
      return first(checkVolumeName(cmd.name), checkClientId(cmd.clientId), checkUint('nowMs', cmd.nowMs));
    case 'releaseLease':
      return first(checkVolumeName(cmd.name), checkClientId(cmd.clientId), checkUint('generation', cmd.generation));
    case 'createTenant':
      return first(checkTenantName(cmd.name), checkUint('maxBytes', cmd.maxBytes), checkMaxVolumes(cmd.maxVolumes), checkUint('nowMs', cmd.nowMs));
    case 'deleteTenant':
      return checkTenantName(cmd.name);
    case 'setTenantQuota':
      return first(checkTenantName(cmd.name), checkUint('maxBytes', cmd.maxBytes), checkMaxVolumes(cmd.maxVolumes));
    case 'revokeCertificate':
      return checkSerial(cmd.serial);
    case 'createSnapshot':
      return first(checkVolumeName(cmd.name), checkSnapshotName(cmd.snapshot), checkUint('nowMs', cmd.nowMs));
    case 'commitSnapshot':
    case 'deleteSnapshot':
      return first(checkVolumeName(cmd.name), checkSnapshotName(cmd.snapshot));
    case 'flattenVolume':
      return checkVolumeName(cmd.name);
    case 'cloneVolume':
      return first(checkVolumeName(cmd.name), checkSnapshotName(cmd.snapshot), checkVolumeName(cmd.clone), checkUint('nowMs', cmd.nowMs));
    case 'requestSnapshot':
      return first(checkVolumeName(cmd.name), checkSnapshotName(cmd.snapshot), checkRequester(cmd.requestedBy), checkUint('nowMs', cmd.nowMs));
    case 'requestFlatten':
      return first(checkVolumeName(cmd.name), checkRequester(cmd.requestedBy), checkUint('bytesPerSec', cmd.bytesPerSec), checkUint('nowMs', cmd.nowMs));
    case 'reportFlatten':
      return first(checkVolumeName(cmd.name), checkUint('generation', cmd.generation), checkUint('doneBytes', cmd.doneBytes), checkUint('totalBytes', cmd.totalBytes), () =>
        (cmd.doneBytes <= cmd.totalBytes ? null : invalid(`doneBytes ${cmd.doneBytes} is above totalBytes ${cmd.totalBytes}`, { doneBytes: cmd.doneBytes, totalBytes: cmd.totalBytes })));
    default:
      return unreachable(cmd, 'unknown command type');
  }
}

function checkMemberChange(name: string, index: number, serverId: string, expectedEpoch: number): StateError | null {
  return first(checkVolumeName(name), checkUint('index', index), checkServerId(serverId), checkUint('expectedEpoch', expectedEpoch));
}

/** A certificate serial as `normalizeSerial` writes it: 1-40 hex digits, upper case, no leading zero. */
export function checkSerial(serial: string): StateError | null {
  if (/^[1-9A-F][0-9A-F]{0,39}$/.test(serial)) return null;
  return invalid(`a certificate serial is 1-40 hex digits (upper case, no leading zero), got ${JSON.stringify(serial.slice(0, 50))}`, { serial: serial.slice(0, 50) });
}

/** What a reporter saw (proto DropReplicaRequest.reason) or why the planner dropped a member. */
export const dropReasons = ['unreachable', 'timeout', 'io', 'no_space', 'checksum', 'copy_failed', 'out', 'drained', 'rebuild_target_down', 'removed'] as const;
export type DropReason = (typeof dropReasons)[number];

export function checkDropReason(reason: string): StateError | null {
  if ((dropReasons as readonly string[]).includes(reason)) return null;
  return invalid(`unknown drop reason ${JSON.stringify(reason.slice(0, 40))}: use one of ${dropReasons.join(', ')}`, { reason });
}

function validateRegister(cmd: RegisterServerCommand): StateError | null {
  return first(
    checkServerId(cmd.serverId),
    checkAddress(cmd.address),
    checkToken('zone', cmd.zone, limits.zoneNameBytesMax),
    checkUint('capacityBytes', cmd.capacityBytes),
    checkUint('freeBytes', cmd.freeBytes),
    cmd.capacityBytes > 0 ? null : invalid('capacityBytes must be positive', { capacityBytes: cmd.capacityBytes }),
    cmd.freeBytes <= cmd.capacityBytes ? null : invalid('freeBytes must not exceed capacityBytes', { freeBytes: cmd.freeBytes, capacityBytes: cmd.capacityBytes }),
    checkUint('nowMs', cmd.nowMs),
  );
}

function validateCreate(cmd: CreateVolumeCommand): StateError | null {
  return first(
    checkVolumeName(cmd.name),
    checkVolumeSize(cmd.sizeBytes),
    checkExtentSize(cmd.extentSizeBytes),
    checkReplicationFactor(cmd.replicationFactor),
    checkUint('nowMs', cmd.nowMs),
    checkOptionalTenant(cmd.tenant),
    () => checkSizeMultiple(cmd.sizeBytes, cmd.extentSizeBytes),
    () => checkEncryption(cmd),
  );
}

const base64Pattern = /^[A-Za-z0-9+/]+={0,2}$/;

/** An encrypted volume's key fields come all together: a cipher name, a key id and a wrapped key of bounded size. */
function checkEncryption(cmd: CreateVolumeCommand): StateError | null {
  const given = [cmd.cipher, cmd.keyId, cmd.wrappedKey].filter((f) => f !== undefined).length;
  if (given === 0) return cmd.expectedId === undefined ? null : checkUint('expectedId', cmd.expectedId);
  if (given !== 3) return invalid('an encrypted volume needs its cipher, key id and wrapped key together', { volume: cmd.name });
  const wrappedKey = cmd.wrappedKey as string;
  const wrappedChars = 4 * Math.ceil(limits.wrappedKeyBytesMax / 3);
  return first(
    checkToken('cipher', cmd.cipher as string, limits.keyIdBytesMax),
    checkClientIdLike('key id', cmd.keyId as string, limits.keyIdBytesMax),
    wrappedKey.length % 4 === 0 && wrappedKey.length <= wrappedChars && base64Pattern.test(wrappedKey) ? null
      : invalid(`the wrapped key must be 1 to ${limits.wrappedKeyBytesMax} bytes in base64`, { volume: cmd.name, chars: wrappedKey.length }),
    cmd.expectedId === undefined ? null : checkUint('expectedId', cmd.expectedId),
  );
}

/** Tenant names are identity names (they appear in certificates): [a-z0-9][a-z0-9._-]*, at most 63 bytes. */
export function checkTenantName(name: string): StateError | null {
  if (isValidIdentityName(name)) return null;
  return invalid(`bad tenant name ${JSON.stringify(name.slice(0, 80))}: use 1 to 63 lowercase ASCII letters, digits, ".", "_", "-", starting with a letter or digit`, { tenant: name });
}

function checkOptionalTenant(name: string | undefined): StateError | null {
  return name === undefined ? null : checkTenantName(name);
}

function checkMaxVolumes(maxVolumes: number): StateError | null {
  if (Number.isSafeInteger(maxVolumes) && maxVolumes >= 0 && maxVolumes <= limits.volumesMax) return null;
  return invalid(`maxVolumes ${maxVolumes} must be an integer from 0 (no limit) to ${limits.volumesMax}`, { maxVolumes, max: limits.volumesMax });
}

function validateSetLabel(cmd: SetLabelCommand): StateError | null {
  return first(
    checkVolumeName(cmd.name),
    checkToken('label key', cmd.key, limits.labelKeyBytesMax, labelKeyPattern),
    checkLabelValue('value', cmd.value),
    checkLabelValue('expect', cmd.expect ?? null),
  );
}

/** The first error of a list; thunks run only if everything before them passed. */
function first(...checks: (StateError | null | (() => StateError | null))[]): StateError | null {
  for (const check of checks) {
    const error = typeof check === 'function' ? check() : check;
    if (error !== null) return error;
  }
  return null;
}

function invalid(message: string, details: Record<string, unknown>): StateError {
  return { code: ErrorCode.InvalidArgument, message, details };
}

const tokenPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const labelKeyPattern = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const clientIdPattern = /^[\x21-\x7e]+$/;
const addressPattern = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$/;

export function checkVolumeName(name: string): StateError | null {
  return checkToken('volume name', name, limits.volumeNameBytesMax);
}

export function checkSnapshotName(name: string): StateError | null {
  return checkToken('snapshot name', name, limits.snapshotNameBytesMax);
}

export function checkServerId(serverId: string): StateError | null {
  return checkToken('server id', serverId, limits.serverIdBytesMax);
}

function checkToken(what: string, value: string, maxBytes: number, pattern = tokenPattern): StateError | null {
  if (value.length === 0 || value.length > maxBytes || !pattern.test(value)) {
    const allowed = pattern === tokenPattern ? 'letters, digits, ".", "_", "-"' : 'letters, digits, ".", "_", "-", "/"';
    return invalid(`bad ${what} ${JSON.stringify(value.slice(0, maxBytes + 8))}: use 1 to ${maxBytes} ASCII ${allowed}, starting with a letter or digit`, { [camel(what)]: value });
  }
  return null;
}

function camel(what: string): string {
  return what.replace(/ ([a-z])/g, (_, c: string) => c.toUpperCase());
}

function checkAddress(address: string): StateError | null {
  const match = address.length <= limits.serverAddressBytesMax ? addressPattern.exec(address) : null;
  const port = match === null ? 0 : Number(match[1]);
  if (port < 1 || port > 65535) {
    return invalid(`bad address ${JSON.stringify(address.slice(0, 300))}: use host:port with a hostname, IPv4 or [IPv6] host and a port in 1..65535`, { address });
  }
  return null;
}

/** Who asked the lease holder for something: an identity's name, 1 to limits.clientIdBytesMax characters. */
function checkRequester(requestedBy: string): StateError | null {
  if (requestedBy.length === 0 || requestedBy.length > limits.clientIdBytesMax) return invalid(`bad requester ${JSON.stringify(requestedBy.slice(0, 32))}: use 1 to ${limits.clientIdBytesMax} characters`, { requestedBy });
  return null;
}

function checkClientId(clientId: string): StateError | null {
  return checkClientIdLike('client id', clientId, limits.clientIdBytesMax);
}

/** 1 to maxBytes printable ASCII characters without spaces. */
function checkClientIdLike(what: string, value: string, maxBytes: number): StateError | null {
  if (value.length === 0 || value.length > maxBytes || !clientIdPattern.test(value)) {
    return invalid(`bad ${what}: use 1 to ${maxBytes} printable ASCII characters without spaces`, { [camel(what)]: value });
  }
  return null;
}

function checkLabelValue(what: string, value: string | null): StateError | null {
  if (value === null) return null;
  const bytes = utf8Length(value);
  if (bytes > limits.labelValueBytesMax) {
    return invalid(`label ${what} is ${bytes} bytes; at most ${limits.labelValueBytesMax} UTF-8 bytes are allowed`, { bytes, max: limits.labelValueBytesMax });
  }
  return null;
}

function utf8Length(value: string): number {
  return new TextEncoder().encode(value).length;
}

export function checkUint(what: string, value: number): StateError | null {
  if (!Number.isSafeInteger(value) || value < 0) {
    return invalid(`${what} must be a non-negative integer, got ${value}`, { [what]: value });
  }
  return null;
}

export function checkVolumeSize(sizeBytes: number): StateError | null {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes > limits.volumeSizeBytesMax) {
    return invalid(`volume size ${sizeBytes} is out of range: use 1 to ${limits.volumeSizeBytesMax} bytes in whole extents`, { sizeBytes, max: limits.volumeSizeBytesMax });
  }
  return null;
}

function checkExtentSize(extentSizeBytes: number): StateError | null {
  const inRange = extentSizeBytes >= limits.extentSizeBytesMin && extentSizeBytes <= limits.extentSizeBytesMax;
  if (!isPowerOfTwo(extentSizeBytes) || !inRange) {
    return invalid(`extent size ${extentSizeBytes} must be a power of two from ${limits.extentSizeBytesMin} to ${limits.extentSizeBytesMax} bytes`, {
      extentSizeBytes,
      min: limits.extentSizeBytesMin,
      max: limits.extentSizeBytesMax,
    });
  }
  return null;
}

function checkMinReplicas(minReplicas: number): StateError | null {
  if (!Number.isSafeInteger(minReplicas) || minReplicas < 1 || minReplicas > limits.replicationFactorMax) {
    return invalid(`minReplicas ${minReplicas} must be an integer from 1 to ${limits.replicationFactorMax}`, { minReplicas, max: limits.replicationFactorMax });
  }
  return null;
}

function checkReplicationFactor(replicationFactor: number): StateError | null {
  if (!Number.isSafeInteger(replicationFactor) || replicationFactor < 1 || replicationFactor > limits.replicationFactorMax) {
    return invalid(`replication factor ${replicationFactor} must be an integer from 1 to ${limits.replicationFactorMax}`, {
      replicationFactor,
      max: limits.replicationFactorMax,
    });
  }
  return null;
}

export function checkSizeMultiple(sizeBytes: number, extentSizeBytes: number): StateError | null {
  if (sizeBytes % extentSizeBytes !== 0) {
    return invalid(`volume size ${sizeBytes} is not a multiple of the extent size ${extentSizeBytes}`, { sizeBytes, extentSizeBytes });
  }
  return null;
}
