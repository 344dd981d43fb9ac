import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { BasaltError, GiB, MiB } from '@basalt/stdx';
import { MetaState, startMetad, validateCommandArgs, type Command } from '@basalt/meta';
import { MetaClient, type MetaMethodName } from '@basalt/wire';
import { freePorts } from '../lib/process.js';
import { counter, isStableCode, runParameters, type FuzzOptions } from './surface.js';

/**
 * metad's request validation, twice. The state machine (pure): hostile commands (bad names,
 * negative, fractional, NaN and huge numbers, unknown servers, out-of-order and replayed
 * commands) applied to a small populated state; apply() never throws, a refusal carries a stable
 * code and leaves the state hash unchanged, and a command validateCommandArgs refuses is refused
 * with the same code. The gRPC API (a one-member metad in this process): hostile requests to
 * every mutating and reading method; each call answers or fails with a BasaltError with a stable
 * code, and a refused call leaves the state hash unchanged.
 */
const names = ['vol-a', 'vol-b', 'vol-new'];
const servers = ['cs0', 'cs1', 'cs2', 'cs9'];

const hostileString = fc.oneof(
  fc.constantFrom(...names, ...servers, 'c1', 'c2', '', ' ', 'a/b', '..', '\u0000', 'é', '-x', 'x'.repeat(300), '127.0.0.1:0', 'z1'),
  fc.string({ maxLength: 40 }),
  fc.fullUnicodeString({ maxLength: 12 }),
);
const name = fc.oneof(fc.constantFrom(...names), hostileString);
const server = fc.oneof(fc.constantFrom(...servers), hostileString);
const tenant = fc.oneof(fc.constantFrom('default', 'ten-a', 'ten-new'), hostileString);
/** Numbers a JSON or proto field might carry: sane ones, edges, and garbage. */
const hostileNumber = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 4, 7, 4 * MiB, 64 * MiB, GiB, 2 ** 31, 2 ** 32, 2 ** 50, 2 ** 53 - 1, 2 ** 53, 2 ** 64, -1, 0.5, NaN, Infinity),
  fc.integer(),
  fc.double(),
);
const uint = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4 * MiB, 64 * MiB, GiB, 2 ** 53 - 1, 2 ** 53, 2 ** 63), fc.nat(), fc.maxSafeNat());
const now = fc.oneof(fc.constant(1_000_000), hostileNumber);

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ type: fc.constant('registerServer' as const), serverId: server, address: hostileString, zone: hostileString, capacityBytes: hostileNumber, freeBytes: hostileNumber, nowMs: now }),
  fc.record({ type: fc.constant('heartbeat' as const), serverId: server, freeBytes: hostileNumber, nowMs: now }),
  fc.record({ type: fc.constantFrom('markServerDown' as const, 'markServerUp' as const, 'markServerOut' as const), serverId: server, nowMs: now }),
  fc.record({ type: fc.constant('setServerDraining' as const), serverId: server, draining: fc.boolean() }),
  fc.record({ type: fc.constant('removeServer' as const), serverId: server }),
  fc.record({ type: fc.constant('createVolume' as const), name, sizeBytes: hostileNumber, extentSizeBytes: hostileNumber, replicationFactor: hostileNumber, nowMs: now }),
  fc.record({ type: fc.constant('resizeVolume' as const), name, sizeBytes: hostileNumber }),
  fc.record({ type: fc.constant('deleteVolume' as const), name, force: fc.boolean() }),
  fc.record({ type: fc.constant('setLabel' as const), name, key: hostileString, value: fc.option(hostileString, { nil: null }) }),
  fc.record({ type: fc.constant('allocateExtent' as const), name, index: hostileNumber }),
  fc.record({ type: fc.constant('dropReplica' as const), name, index: hostileNumber, serverId: server, expectedEpoch: hostileNumber, reason: fc.constantFrom('unreachable', 'io', 'bogus') }),
  fc.record({ type: fc.constantFrom('addRebuilding' as const, 'promoteReplica' as const), name, index: hostileNumber, serverId: server, expectedEpoch: hostileNumber }),
  fc.record({ type: fc.constant('acquireLease' as const), name, clientId: hostileString, force: fc.boolean(), nowMs: now }),
  fc.record({ type: fc.constant('releaseLease' as const), name, clientId: hostileString, generation: hostileNumber }),
  fc.record({ type: fc.constant('createVolume' as const), name, sizeBytes: hostileNumber, extentSizeBytes: hostileNumber, replicationFactor: hostileNumber, nowMs: now, tenant }),
  fc.record({ type: fc.constant('resizeVolume' as const), name, sizeBytes: hostileNumber, requireTenant: tenant }),
  fc.record({ type: fc.constant('deleteVolume' as const), name, force: fc.boolean(), requireTenant: tenant }),
  fc.record({ type: fc.constant('createTenant' as const), name: tenant, maxBytes: hostileNumber, maxVolumes: hostileNumber, nowMs: now }),
  fc.record({ type: fc.constant('setTenantQuota' as const), name: tenant, maxBytes: hostileNumber, maxVolumes: hostileNumber }),
  fc.record({ type: fc.constant('deleteTenant' as const), name: tenant }),
);

/** Three servers in three zones, two volumes with extents, a lease: the state each input starts from. */
function populated(): Uint8Array {
  const s = MetaState.empty();
  const setup: Command[] = [
    ...servers.slice(0, 3).map((id, i): Command => ({ type: 'registerServer', serverId: id, address: `127.0.0.1:${7000 + i}`, zone: `z${i}`, capacityBytes: 64 * GiB, freeBytes: 64 * GiB, nowMs: 1 })),
    { type: 'createVolume', name: 'vol-a', sizeBytes: 64 * MiB, extentSizeBytes: 4 * MiB, replicationFactor: 3, nowMs: 1 },
    { type: 'createVolume', name: 'vol-b', sizeBytes: 16 * MiB, extentSizeBytes: 4 * MiB, replicationFactor: 2, nowMs: 1 },
    { type: 'allocateExtent', name: 'vol-a', index: 0 },
    { type: 'allocateExtent', name: 'vol-b', index: 3 },
    { type: 'acquireLease', name: 'vol-a', clientId: 'c1', force: false, nowMs: 1 },
    { type: 'createTenant', name: 'ten-a', maxBytes: 96 * MiB, maxVolumes: 2, nowMs: 1 },
    { type: 'createVolume', name: 'vol-t', sizeBytes: 64 * MiB, extentSizeBytes: 4 * MiB, replicationFactor: 2, nowMs: 1, tenant: 'ten-a' },
  ];
  for (const c of setup) if (!s.apply(c).ok) throw new Error(`setup command ${c.type} refused`);
  return s.encodeSnapshot();
}

export function fuzzMetaState(o: FuzzOptions): void {
  const tick = counter(o);
  const base = populated();
  const property = fc.property(fc.array(command, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 3 }), (cmds, replays) => {
    tick();
    const state = MetaState.decodeSnapshot(base);
    const sequence = [...cmds, ...replays.map((i) => cmds[i % cmds.length]!)];
    for (const cmd of sequence) {
      const before = state.hash();
      const invalid = validateCommandArgs(cmd);
      const result = state.apply(cmd);
      if (invalid !== null && (result.ok || result.error.code !== invalid.code)) throw new Error(`${cmd.type}: validation refused with ${invalid.code}, apply gave ${result.ok ? 'ok' : result.error.code}`);
      if (result.ok) continue;
      if (!isStableCode(result.error.code)) throw new Error(`${cmd.type}: unstable code ${result.error.code}`);
      if (state.hash() !== before) throw new Error(`${cmd.type} was refused (${result.error.code}) but changed the state`);
    }
  });
  fc.assert(property, runParameters(o));
}

type Call = { method: MetaMethodName; request: Record<string, unknown> };

const call: fc.Arbitrary<Call> = fc.oneof(
  fc.record({ name, sizeBytes: uint, extentSizeBytes: uint, replicationFactor: fc.nat({ max: 0xffffffff }) }).map((request) => ({ method: 'createVolume' as const, request })),
  fc.record({ name, sizeBytes: uint, force: fc.boolean() }).map((request) => ({ method: 'resizeVolume' as const, request })),
  fc.record({ name, force: fc.boolean() }).map((request) => ({ method: 'deleteVolume' as const, request })),
  fc.record({ name, stale: fc.boolean() }).map((request) => ({ method: 'getVolume' as const, request })),
  fc.record({ name, key: hostileString, value: fc.option(hostileString, { nil: undefined }), expect: fc.option(hostileString, { nil: undefined }) }).map((request) => ({ method: 'setVolumeLabel' as const, request })),
  fc.record({ volume: name, fromIndex: uint, count: uint, stale: fc.boolean() }).map((request) => ({ method: 'getExtentMap' as const, request })),
  fc.record({ volume: name, index: uint, minReplicas: fc.nat({ max: 0xffffffff }) }).map((request) => ({ method: 'allocateExtent' as const, request })),
  fc.record({ volume: name, index: uint, serverId: server, expectedEpoch: uint, reason: fc.oneof(fc.constantFrom('', 'io', 'timeout'), hostileString) }).map((request) => ({ method: 'dropReplica' as const, request })),
  fc.record({ volume: name, index: uint, serverId: server, expectedEpoch: uint }).map((request) => ({ method: 'promoteReplica' as const, request })),
  fc.record({ volume: name, clientId: hostileString, force: fc.boolean() }).map((request) => ({ method: 'acquireLease' as const, request })),
  fc.record({ volume: name, clientId: hostileString, generation: uint }).map((request) => ({ method: 'releaseLease' as const, request })),
  fc.record({ id: server, address: hostileString, zone: hostileString, capacityBytes: uint, freeBytes: uint }).map((request) => ({ method: 'registerServer' as const, request })),
  fc.record({ id: server, freeBytes: uint }).map((request) => ({ method: 'heartbeat' as const, request })),
  fc.record({ id: server, drain: fc.boolean() }).map((request) => ({ method: 'drainServer' as const, request })),
  fc.record({ id: server }).map((request) => ({ method: 'markServerOut' as const, request })),
  fc.record({ serverId: server, limit: fc.nat({ max: 0xffffffff }) }).map((request) => ({ method: 'listRepairTasks' as const, request })),
  fc.record({ name, sizeBytes: uint, extentSizeBytes: uint, replicationFactor: fc.nat({ max: 0xffffffff }), tenant }).map((request) => ({ method: 'createVolume' as const, request })),
  fc.record({ tenant, limit: fc.nat({ max: 2000 }) }).map((request) => ({ method: 'listVolumes' as const, request })),
  fc.record({ name: tenant, maxBytes: uint, maxVolumes: fc.nat({ max: 0xffffffff }) }).map((request) => ({ method: 'createTenant' as const, request })),
  fc.record({ name: tenant, maxBytes: uint, maxVolumes: fc.nat({ max: 0xffffffff }) }).map((request) => ({ method: 'setTenantQuota' as const, request })),
  fc.record({ name: tenant }).map((request) => ({ method: 'deleteTenant' as const, request })),
  fc.record({ sinceMs: uint, limit: fc.nat({ max: 0xffffffff }) }).map((request) => ({ method: 'listAudit' as const, request })),
);

/** A one-member metad in this process, its background work slowed so only the fuzzer changes state. */
async function startOne(dataDir: string): Promise<{ close: () => Promise<void>; hash: () => string; client: MetaClient }> {
  const [port] = await freePorts(1);
  const hour = 3_600_000;
  const metad = await startMetad({ id: 'm1', listen: `127.0.0.1:${port!}`, peers: new Map(), dataDir, log: () => undefined, chunkDownAfterMs: hour, downOutIntervalMs: hour, repairIntervalMs: hour });
  const client = new MetaClient({ endpoints: [metad.address], callTimeoutMs: 10_000 });
  for (let i = 0; ; i++) {
    try {
      await client.call('listVolumes', {});
      break;
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  for (const [i, id] of servers.slice(0, 3).entries()) await client.call('registerServer', { id, address: `127.0.0.1:${7000 + i}`, zone: `z${i}`, capacityBytes: 64 * GiB, freeBytes: 64 * GiB });
  await client.call('createVolume', { name: 'vol-a', sizeBytes: 64 * MiB, extentSizeBytes: 4 * MiB, replicationFactor: 3 });
  await client.call('allocateExtent', { volume: 'vol-a', index: 0 });
  return { client, hash: () => metad.host.stateHash(), close: async () => (client.close(), await metad.close()) };
}

export async function fuzzMetaApi(o: FuzzOptions): Promise<void> {
  const tick = counter(o, 100);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-fuzz-meta-'));
  const meta = await startOne(dir);
  try {
    const property = fc.asyncProperty(call, async ({ method, request }) => {
      tick();
      const before = meta.hash();
      try {
        await meta.client.call(method, request);
      } catch (e) {
        if (!(e instanceof BasaltError) || !isStableCode(e.code)) throw new Error(`${method} failed without a stable code: ${String(e)}`);
        if (meta.hash() !== before) throw new Error(`${method} was refused (${e.code}) but changed the state`);
      }
    });
    await fc.assert(property, runParameters(o));
  } finally {
    await meta.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
