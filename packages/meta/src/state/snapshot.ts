import { assert, AssertionError } from '@basalt/stdx';
import { isObject, parseJsonText, utf8Text } from './json.js';
import { jsonArrayElements, jsonObjectMembers } from './json-scan.js';
import { defaultTenant, memberList, noMembers, type EncryptionRecord, type ExtentRecord, type MemberLists, type LeaseRecord, type ParentRecord, type ServerRecord, type SnapshotRecord, type SnapshotState, type StateData, type TenantRecord, type VolumeRecord } from './records.js';
import { rebuildTenantUsage } from './tenant-usage.js';
import { rebuildAttention } from './attention.js';
import { sortedLabels } from './view-of.js';
import { compareStrings } from './order.js';

/**
 * The whole state as bytes, for Raft snapshots and for hash(). Canonical: servers by id,
 * volumes by id, labels by key, extents by index, so equal states encode to equal bytes.
 * Compact: records are arrays, and an extent is a run of numbers in its volume's `extents`
 * list: index, epoch, active count, each active member as a position in `servers`, then
 * (format 2) the rebuilding count and members and the former count and members.
 * Format 1 (no rebuilding or former members, servers only up or down) is still read.
 * Tenants, encryption and snapshots extend format 2 without changing a byte of a state that has
 * none: a volume with any of them has an 11th tuple element, an object of what it has (VolumeExtras),
 * and a `tenants` list (by name) follows the volumes only when tenants exist. Requests to the lease
 * holder extend the snapshot and parent tuples by an element each (a requested snapshot's
 * requester; a clone's flatten request), present only when there is one: older states decode.
 */
export const snapshotFormatVersion = 2;

type ServerTuple = [string, string, string, number, number, string, number, boolean, number];
type VolumeBase = [number, string, number, number, number, number, [string, number] | null, number, [string, string][], number[]];
/** The 9th element, who asked, only for a 'requested' snapshot. */
type SnapshotTuple = [number, string, number, SnapshotState, number, number[], number, boolean] | [number, string, number, SnapshotState, number, number[], number, boolean, string];
/** [requestedBy, requestedAtMs, bytesPerSec, doneBytes, totalBytes]. */
type FlattenTuple = [string, number, number, number, number];
/** The 5th element only when a background flatten is requested. */
type ParentTuple = [number, string, number, string] | [number, string, number, string, FlattenTuple];
/** A volume's snapshots and parent, present only when it has either (or ever had a snapshot). */
type SnapshotsTuple = [number, ParentTuple | null, SnapshotTuple[]];
/**
 * What only some volumes have, each key present only when it applies: `t` the tenant (not
 * `default`), `e` the encryption [cipher, keyId, wrappedKey] (and keyVolumeId for a clone, whose
 * key is bound to its source's id), `s` the snapshots and parent.
 */
interface VolumeExtras {
  t?: string;
  e?: [string, string, string] | [string, string, string, number];
  s?: SnapshotsTuple;
}
/** The base fields, then the extras when there are any: other volumes encode as before. */
type VolumeTuple = VolumeBase | [...VolumeBase, VolumeExtras];
type TenantTuple = [string, number, number, number];

export function encodeStateData(data: StateData): Uint8Array {
  const pieces: Uint8Array[] = [];
  for (const slice of stateDataPieces(data, Number.POSITIVE_INFINITY)) pieces.push(...slice);
  return concatPieces(pieces);
}

/**
 * The bytes of encodeStateData in pieces of about `Utf8Pieces.pieceChars` bytes, `volumesPerSlice`
 * volumes per step: each step yields the pieces it completed (the last one the rest). A caller
 * may do other work between steps, provided the state does not change until the generator is
 * done. The JSON of {v, nextVolumeId, servers, volumes, tenants?, revoked?} is written a volume
 * at a time: only one volume's tuple is alive at once, and no piece is ever grown or copied.
 */
export function* stateDataPieces(data: StateData, volumesPerSlice: number): Generator<Uint8Array[], void, undefined> {
  assert(volumesPerSlice >= 1, 'a slice encodes at least one volume');
  const servers = [...data.servers.values()].sort((a, b) => compareStrings(a.id, b.id));
  const slots = new Map(servers.map((s, i) => [s.id, i]));
  const volumes = [...data.volumes.values()].sort((a, b) => a.id - b.id);
  const sink = new Utf8Pieces();
  sink.write(`{"v":${snapshotFormatVersion},"nextVolumeId":${JSON.stringify(data.nextVolumeId)},"servers":${JSON.stringify(servers.map(serverTuple))},"volumes":[`);
  for (let i = 0; i < volumes.length; i++) {
    sink.write((i === 0 ? '' : ',') + JSON.stringify(volumeTuple(volumes[i] as VolumeRecord, slots)));
    if ((i + 1) % volumesPerSlice === 0) yield sink.take();
  }
  sink.write(']');
  if (data.tenants.size > 0) {
    const tenants = [...data.tenants.values()].sort((a, b) => compareStrings(a.name, b.name));
    sink.write(`,"tenants":${JSON.stringify(tenants.map((t): TenantTuple => [t.name, t.maxBytes, t.maxVolumes, t.createdAtMs]))}`);
  }
  // Only when there are any: a state without revocations encodes (and hashes) as before.
  if (data.revokedSerials.size > 0) sink.write(`,"revoked":${JSON.stringify([...data.revokedSerials].sort(compareStrings))}`);
  sink.write('}');
  sink.flush();
  yield sink.take();
}

/** The pieces as one buffer. */
export function concatPieces(pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * UTF-8 bytes of strings written in order, cut into pieces of about `pieceChars` characters,
 * each encoded once at its exact size (below glibc's default mmap threshold of 128 KiB for
 * ASCII, so no piece raises it).
 */
class Utf8Pieces {
  static readonly pieceChars = 64 * 1024;
  private pending = '';
  private done: Uint8Array[] = [];
  private readonly encoder = new TextEncoder();

  write(text: string): void {
    this.pending += text;
    if (this.pending.length >= Utf8Pieces.pieceChars) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    this.done.push(this.encoder.encode(this.pending));
    this.pending = '';
  }

  /** The pieces completed since the last take. */
  take(): Uint8Array[] {
    const out = this.done;
    this.done = [];
    return out;
  }
}

function serverTuple(s: ServerRecord): ServerTuple {
  return [s.id, s.address, s.zone, s.capacityBytes, s.freeBytes, s.state, s.stateSinceMs, s.draining, s.lastHeartbeatMs];
}

function volumeTuple(v: VolumeRecord, slots: Map<string, number>): VolumeTuple {
  const lease: [string, number] | null = v.lease === null ? null : [v.lease.clientId, v.lease.acquiredAtMs];
  const extents: number[] = [];
  for (const index of [...v.extents.keys()].sort((a, b) => a - b)) {
    const e = v.extents.get(index) as ExtentRecord;
    extents.push(index, e.epoch);
    for (const members of [e.replicas, e.rebuilding, e.former]) {
      extents.push(members.length);
      for (const id of members) extents.push(slots.get(id) as number);
    }
  }
  const tuple: VolumeBase = [v.id, v.name, v.sizeBytes, v.extentSizeBytes, v.replicationFactor, v.generation, lease, v.createdAtMs, sortedLabels(v), extents];
  const extras: VolumeExtras = {};
  if (v.tenant !== defaultTenant) extras.t = v.tenant;
  if (v.encryption !== null) {
    const e = v.encryption;
    extras.e = e.keyVolumeId === v.id ? [e.cipher, e.keyId, e.wrappedKey] : [e.cipher, e.keyId, e.wrappedKey, e.keyVolumeId];
  }
  if (v.snaps !== null) {
    const p = v.snaps.parent;
    const f = p?.flatten;
    const parent: ParentTuple | null = p === null ? null : f === undefined ? [p.volumeId, p.volumeName, p.snapshotId, p.snapshotName] : [p.volumeId, p.volumeName, p.snapshotId, p.snapshotName, [f.requestedBy, f.requestedAtMs, f.bytesPerSec, f.doneBytes, f.totalBytes]];
    // Requested ones (id 0) after the others, by name: the order is canonical.
    const ordered = [...v.snaps.snapshots.values()].sort((a, b) => (a.id === 0 ? Infinity : a.id) - (b.id === 0 ? Infinity : b.id) || compareStrings(a.name, b.name));
    const snaps = ordered.map((x): SnapshotTuple => {
      const base: SnapshotTuple = [x.id, x.name, x.createdAtMs, x.state, x.sizeBytes, [...x.extents], x.clones, x.hidden];
      return x.requestedBy === undefined ? base : [...base, x.requestedBy] as SnapshotTuple;
    });
    extras.s = [v.snaps.nextSnapshotId, parent, snaps];
  }
  return Object.keys(extras).length === 0 ? tuple : [...tuple, extras];
}

/** Rebuilds the state; asserts on a malformed snapshot (it is corruption or a bug). */
export function decodeStateData(bytes: Uint8Array): StateData {
  // Member by member and volume by volume (json-scan.ts): only one volume's tuple tree is alive
  // at once, so decoding a large snapshot leaves young garbage only.
  const root = jsonObjectMembers(utf8Text(bytes, 'snapshot'), 'snapshot');
  const member = (key: string): unknown => {
    const text = root.get(key);
    return text === undefined ? undefined : parseJsonText(text, `snapshot ${key}`);
  };
  const version = member('v');
  assert(version === 1 || version === snapshotFormatVersion, `snapshot format ${String(version)} is not supported (this binary reads 1 and ${snapshotFormatVersion})`);
  const servers = list(member('servers'), 'servers').map(decodeServer);
  const tenants = root.has('tenants') ? list(member('tenants'), 'tenants').map(decodeTenant) : [];
  const revoked = root.has('revoked') ? list(member('revoked'), 'revoked').map((s) => str(s, 'revoked serial')) : [];
  const data: StateData = { servers: new Map(servers.map((s) => [s.id, s])), volumes: new Map(), tenants: new Map(tenants.map((t) => [t.name, t])), tenantUsage: new Map(), nextVolumeId: num(member('nextVolumeId'), 'nextVolumeId'), attention: new Map(), allocatedExtents: 0, volumeNames: [], memberLists: new Map(), revokedSerials: new Set(revoked) };
  for (const text of jsonArrayElements(root.get('volumes') ?? corrupt('volumes is not a list'), 'snapshot volumes')) {
    const volume = decodeVolume(parseJsonText(text, 'snapshot volume'), servers, version, data.memberLists);
    data.volumes.set(volume.name, volume);
  }
  data.volumeNames.push(...[...data.volumes.keys()].sort(compareStrings));
  rebuildAttention(data);
  rebuildTenantUsage(data);
  return data;
}

function decodeTenant(tuple: unknown): TenantRecord {
  const t = list(tuple, 'tenant');
  assert(t.length === 4, 'tenant record has the wrong length');
  return { name: str(t[0], 'tenant name'), maxBytes: num(t[1], 'tenant maxBytes'), maxVolumes: num(t[2], 'tenant maxVolumes'), createdAtMs: num(t[3], 'tenant createdAtMs') };
}

function decodeServer(tuple: unknown): ServerRecord {
  const t = list(tuple, 'server');
  assert(t.length === 9, 'server record has the wrong length');
  const state = str(t[5], 'server state');
  assert(state === 'up' || state === 'down' || state === 'out', `bad server state ${state}`);
  assert(typeof t[7] === 'boolean', 'server draining flag is not a boolean');
  return {
    id: str(t[0], 'server id'),
    address: str(t[1], 'server address'),
    zone: str(t[2], 'server zone'),
    capacityBytes: num(t[3], 'capacityBytes'),
    freeBytes: num(t[4], 'freeBytes'),
    state,
    stateSinceMs: num(t[6], 'stateSinceMs'),
    draining: t[7],
    lastHeartbeatMs: num(t[8], 'lastHeartbeatMs'),
    extentCount: 0,
  };
}

function decodeVolume(tuple: unknown, servers: ServerRecord[], version: number, shared: MemberLists): VolumeRecord {
  const t = list(tuple, 'volume');
  assert(t.length === 10 || t.length === 11, 'volume record has the wrong length');
  const extras = t.length === 11 ? t[10] : {};
  assert(isObject(extras), 'volume extras are not an object');
  const labels = list(t[8], 'labels').map((pair) => {
    const p = list(pair, 'label');
    return [str(p[0], 'label key'), str(p[1], 'label value')] as const;
  });
  return {
    id: num(t[0], 'volume id'),
    name: str(t[1], 'volume name'),
    tenant: extras.t === undefined ? defaultTenant : str(extras.t, 'volume tenant'),
    sizeBytes: num(t[2], 'sizeBytes'),
    extentSizeBytes: num(t[3], 'extentSizeBytes'),
    replicationFactor: num(t[4], 'replicationFactor'),
    generation: num(t[5], 'generation'),
    lease: decodeLease(t[6]),
    createdAtMs: num(t[7], 'createdAtMs'),
    encryption: decodeEncryption(extras.e, num(t[0], 'id')),
    labels: new Map(labels),
    extents: decodeExtents(list(t[9], 'extents'), servers, version, shared),
    ...decodeSnapshots(extras.s),
  };
}

/** A clone's key is bound to another volume's id (a fourth element); a volume's own key, to its id. */
function decodeEncryption(value: unknown, volumeId: number): EncryptionRecord | null {
  if (value === undefined) return null;
  const t = list(value, 'encryption');
  const keyVolumeId = t.length > 3 ? num(t[3], 'key volume id') : volumeId;
  return { cipher: str(t[0], 'cipher'), keyId: str(t[1], 'key id'), wrappedKey: str(t[2], 'wrapped key'), keyVolumeId };
}

function decodeSnapshots(value: unknown): Pick<VolumeRecord, 'snaps'> {
  if (value === undefined) return { snaps: null };
  const t = list(value, 'snapshots');
  const p = t[1] === null ? null : list(t[1], 'parent');
  const snapshots = new Map<string, SnapshotRecord>();
  for (const item of list(t[2], 'snapshot list')) {
    const x = list(item, 'snapshot');
    const state = str(x[3], 'snapshot state');
    assert(state === 'requested' || state === 'creating' || state === 'ready', `bad snapshot state ${state}`);
    assert(typeof x[7] === 'boolean', 'snapshot hidden flag is not a boolean');
    const snap: SnapshotRecord = {
      id: num(x[0], 'snapshot id'), name: str(x[1], 'snapshot name'), createdAtMs: num(x[2], 'snapshot time'), state, sizeBytes: num(x[4], 'snapshot size'),
      extents: list(x[5], 'snapshot extents').map((i) => num(i, 'snapshot extent')), clones: num(x[6], 'snapshot clones'), hidden: x[7],
      ...(x.length > 8 && { requestedBy: str(x[8], 'snapshot requester') }),
    };
    snapshots.set(snap.name, snap);
  }
  const parent = p === null ? null : { volumeId: num(p[0], 'parent volume id'), volumeName: str(p[1], 'parent volume'), snapshotId: num(p[2], 'parent snapshot id'), snapshotName: str(p[3], 'parent snapshot'), ...decodeFlatten(p[4]) };
  return { snaps: { snapshots, nextSnapshotId: num(t[0], 'nextSnapshotId'), parent } };
}

function decodeFlatten(value: unknown): Pick<ParentRecord, 'flatten'> {
  if (value === undefined) return {};
  const f = list(value, 'flatten request');
  return { flatten: { requestedBy: str(f[0], 'flatten requester'), requestedAtMs: num(f[1], 'flatten time'), bytesPerSec: num(f[2], 'flatten rate'), doneBytes: num(f[3], 'flatten done'), totalBytes: num(f[4], 'flatten total') } };
}

function decodeLease(value: unknown): LeaseRecord | null {
  if (value === null) return null;
  const t = list(value, 'lease');
  return { clientId: str(t[0], 'lease client'), acquiredAtMs: num(t[1], 'lease time') };
}

/** Replica ids come from the server records, so each id string is stored once. */
function decodeExtents(flat: unknown[], servers: ServerRecord[], version: number, shared: MemberLists): Map<number, ExtentRecord> {
  const extents = new Map<number, ExtentRecord>();
  let at = 0;
  const next = (what: string): number => num(flat[at++], what);
  const members = (counted: boolean): string[] => {
    const ids: string[] = [];
    for (let n = next('member count'); n > 0; n--) {
      const server = servers[next('member slot')] ?? corrupt('member slot out of range');
      if (counted) server.extentCount += 1;
      ids.push(server.id);
    }
    return ids;
  };
  while (at < flat.length) {
    const index = next('extent index');
    const epoch = next('extent epoch');
    const replicas = memberList(shared, members(true));
    const rebuilding = version === 1 ? noMembers : memberList(shared, members(true));
    const former = version === 1 ? noMembers : memberList(shared, members(false));
    extents.set(index, { replicas, rebuilding, former, epoch });
  }
  return extents;
}

// The checks below run per field of a large snapshot: they build a message only on failure.

function list(value: unknown, what: string): unknown[] {
  return Array.isArray(value) ? value : corrupt(`${what} is not a list`);
}

function str(value: unknown, what: string): string {
  return typeof value === 'string' ? value : corrupt(`${what} is not a string`);
}

function num(value: unknown, what: string): number {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : corrupt(`${what} is not an integer`);
}

function corrupt(message: string): never {
  throw new AssertionError(`corrupt snapshot: ${message}`);
}
