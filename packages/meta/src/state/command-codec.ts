import { assert } from '@basalt/stdx';
import type { Command, CommandType } from './commands.js';
import { isObject, parseJson } from './json.js';

/**
 * Commands as Raft log entries: compact JSON `{"v":1,"c":{...}}` in UTF-8. `v` is the format
 * version: a newer binary may add versions and must keep decoding the old ones. Entries were
 * encoded by a leader from valid commands, so a malformed one is a bug or corruption: decode
 * asserts rather than returning an error.
 */
export const commandFormatVersion = 1;

type FieldKind = 'string' | 'number' | 'boolean' | 'string|null' | 'optional string|null' | 'optional number' | 'optional string' | 'optional boolean';

type FieldsOf<T extends CommandType> = Exclude<keyof Extract<Command, { type: T }>, 'type'>;

/** Every field of every command, in encoding order; the mapped type keeps it complete. */
const schemas: { readonly [T in CommandType]: { readonly [F in FieldsOf<T>]-?: FieldKind } } = {
  registerServer: { serverId: 'string', address: 'string', zone: 'string', capacityBytes: 'number', freeBytes: 'number', nowMs: 'number' },
  heartbeat: { serverId: 'string', freeBytes: 'number', nowMs: 'number' },
  markServerDown: { serverId: 'string', nowMs: 'number' },
  markServerUp: { serverId: 'string', nowMs: 'number' },
  setServerDraining: { serverId: 'string', draining: 'boolean' },
  removeServer: { serverId: 'string', dropFromSets: 'optional boolean' },
  markServerOut: { serverId: 'string', nowMs: 'number' },
  createVolume: { name: 'string', sizeBytes: 'number', extentSizeBytes: 'number', replicationFactor: 'number', nowMs: 'number', cipher: 'optional string', keyId: 'optional string', wrappedKey: 'optional string', expectedId: 'optional number', tenant: 'optional string' },
  resizeVolume: { name: 'string', sizeBytes: 'number', force: 'optional boolean', requireTenant: 'optional string' },
  deleteVolume: { name: 'string', force: 'boolean', requireTenant: 'optional string' },
  setLabel: { name: 'string', key: 'string', value: 'string|null', expect: 'optional string|null' },
  allocateExtent: { name: 'string', index: 'number', minReplicas: 'optional number' },
  dropReplica: { name: 'string', index: 'number', serverId: 'string', expectedEpoch: 'number', reason: 'optional string' },
  addRebuilding: { name: 'string', index: 'number', serverId: 'string', expectedEpoch: 'number' },
  promoteReplica: { name: 'string', index: 'number', serverId: 'string', expectedEpoch: 'number' },
  acquireLease: { name: 'string', clientId: 'string', force: 'boolean', nowMs: 'number' },
  releaseLease: { name: 'string', clientId: 'string', generation: 'number' },
  createTenant: { name: 'string', maxBytes: 'number', maxVolumes: 'number', nowMs: 'number' },
  deleteTenant: { name: 'string' },
  setTenantQuota: { name: 'string', maxBytes: 'number', maxVolumes: 'number' },
  revokeCertificate: { serial: 'string' },
  createSnapshot: { name: 'string', snapshot: 'string', nowMs: 'number', requested: 'optional boolean' },
  commitSnapshot: { name: 'string', snapshot: 'string' },
  deleteSnapshot: { name: 'string', snapshot: 'string', requested: 'optional boolean' },
  cloneVolume: { name: 'string', snapshot: 'string', clone: 'string', nowMs: 'number', shareKey: 'optional boolean' },
  flattenVolume: { name: 'string' },
  requestSnapshot: { name: 'string', snapshot: 'string', requestedBy: 'string', nowMs: 'number' },
  requestFlatten: { name: 'string', requestedBy: 'string', bytesPerSec: 'number', cancel: 'optional boolean', nowMs: 'number' },
  reportFlatten: { name: 'string', generation: 'number', doneBytes: 'number', totalBytes: 'number' },
};

function schemaOf(type: unknown): Readonly<Record<string, FieldKind>> {
  assert(typeof type === 'string' && Object.hasOwn(schemas, type), `unknown command type ${String(type)}`);
  return schemas[type as CommandType];
}

/** Asserts the command has exactly its fields with JSON-safe values (finite numbers). */
export function encodeCommand(cmd: Command): Uint8Array {
  const schema = schemaOf(cmd.type);
  const fields = cmd as unknown as Record<string, unknown>;
  const c: Record<string, unknown> = { type: cmd.type };
  for (const [field, kind] of Object.entries(schema)) {
    const value = fields[field];
    checkField(cmd.type, field, kind, value);
    if (value !== undefined) c[field] = value;
  }
  for (const field of Object.keys(fields)) assert(field === 'type' || field in schema, `${cmd.type} has no field ${field}`);
  return new TextEncoder().encode(JSON.stringify({ v: commandFormatVersion, c }));
}

export function decodeCommand(bytes: Uint8Array): Command {
  const entry = parseJson(bytes, 'command entry');
  assert(isObject(entry), 'command entry is not an object');
  assert(entry.v === commandFormatVersion, `command format ${String(entry.v)} is not supported (this binary reads ${commandFormatVersion})`);
  const c = entry.c;
  assert(isObject(c), 'command entry has no command');
  const schema = schemaOf(c.type);
  for (const field of Object.keys(c)) assert(field === 'type' || field in schema, `${String(c.type)} has no field ${field}`);
  for (const [field, kind] of Object.entries(schema)) checkField(String(c.type), field, kind, c[field]);
  return c as unknown as Command;
}

function checkField(type: string, field: string, kind: FieldKind, value: unknown): void {
  const okay =
    kind === 'number' ? typeof value === 'number' && Number.isFinite(value)
    : kind === 'optional number' ? value === undefined || (typeof value === 'number' && Number.isFinite(value))
    : kind === 'string' || kind === 'boolean' ? typeof value === kind
    : kind === 'string|null' ? typeof value === 'string' || value === null
    : kind === 'optional string' ? value === undefined || typeof value === 'string'
    : kind === 'optional boolean' ? value === undefined || typeof value === 'boolean'
    : typeof value === 'string' || value === null || value === undefined;
  assert(okay, `${type}.${field} must be ${kind}, got ${JSON.stringify(value) ?? 'undefined'}`);
}
