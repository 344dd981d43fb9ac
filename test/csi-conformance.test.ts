import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { credentials, makeGenericClientConstructor, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { csiControllerService, csiIdentityService, csiNodeService, unaryMethod, csipb } from '@basalt/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeyProvider } from '@basalt/client';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { waitForLog } from './lib/process.js';

/**
 * The CSI driver (`basalt csi --mode both`) against the CSI v1 specification, over its real unix
 * socket, on a real cluster (3 metad, 3 chunk servers in zones zone-a..c): for each Identity and
 * Controller RPC the happy path, idempotency, missing and invalid arguments, not found and
 * already exists with other parameters, with the status codes the spec names. Node RPCs are
 * checked here for their arguments and error codes only: this host has no NBD kernel driver, so
 * NodeStage cannot attach a device here; test/csi-node-kernel.test.ts runs them on a real kernel.
 */
const { scope, keep } = clusterScope();
const MiB = 2 ** 20;
const callTimeoutMs = 30_000;

type Service = object;
type Call = (name: string, req: object) => Promise<unknown>;

function caller(socket: string, service: Service, name: string): { call: Call; client: Client } {
  const Ctor = makeGenericClientConstructor(service as never, name);
  const client = new Ctor(`unix://${socket}`, credentials.createInsecure());
  const call: Call = (method, req) => new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (r: object, m: object, cb: (e: ServiceError | null, v: unknown) => void) => void>)[method];
    if (fn === undefined) throw new Error(`no method ${method}`);
    fn.call(client, req, { deadline: Date.now() + callTimeoutMs }, (err, value) => (err ? reject(err) : resolve(value)));
  });
  return { call, client };
}

function zonesOf(volume: csipb.IVolume | null | undefined): (string | undefined)[] {
  return (volume?.accessibleTopology ?? []).map((t) => t.segments?.[zoneKey]);
}

async function code(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    return (err as ServiceError).code;
  }
  return status.OK;
}

const writer: csipb.IVolumeCapability = { mount: { fsType: 'ext4' }, accessMode: { mode: 1 /* SINGLE_NODE_WRITER */ } };
const block: csipb.IVolumeCapability = { block: {}, accessMode: { mode: 1 } };
const multiWriter: csipb.IVolumeCapability = { mount: {}, accessMode: { mode: 5 /* MULTI_NODE_MULTI_WRITER */ } };
const zoneKey = 'topology.basalt.io/zone';

let cluster: BasaltCluster;
let dir: string;
let kek: string;
let identity: Call;
let controller: Call;
let node: Call;
let raw: Call;
const clients: Client[] = [];

beforeAll(async () => {
  cluster = keep(await BasaltCluster.start(scope));
  dir = scope.tempDir('csi');
  const socket = join(dir, 'csi.sock');
  kek = join(dir, 'kek');
  writeFileSync(kek, randomBytes(32).toString('hex'), { mode: 0o600 });
  const driver = scope.spawnCli('csi', ['csi', '--metad', cluster.metaEndpoints.join(','), '--mode', 'both', '--endpoint', `unix://${socket}`,
    '--node-id', 'node-1', '--zone', 'zone-a', '--state-dir', join(dir, 'state'), '--kek-file', kek]);
  await waitForLog(driver, /basalt csi: both on unix:/);
  for (const [service, name, set] of [
    [csiIdentityService, 'Identity', (c: Call) => (identity = c)],
    [csiControllerService, 'Controller', (c: Call) => (controller = c)],
    [csiNodeService, 'Node', (c: Call) => (node = c)],
    [unimplementedService, 'Controller', (c: Call) => (raw = c)],
  ] as const) {
    const made = caller(socket, service, name);
    clients.push(made.client);
    set(made.call);
  }
}, 300_000);

afterAll(() => {
  for (const c of clients) c.close();
});

/** RPCs the driver does not offer (not in proto/csi.proto): raw paths with empty messages. */
const empty = { encode: () => ({ finish: () => new Uint8Array() }), decode: () => ({}) };
const unimplementedService: Service = {
  controllerPublishVolume: unaryMethod('csi.v1.Controller', 'ControllerPublishVolume', empty, empty),
};

describe('CSI Identity', () => {
  it('GetPluginInfo names the driver and its version, the same on every call', async () => {
    const first = await identity('getPluginInfo', {}) as csipb.GetPluginInfoResponse;
    expect(first.name).toBe('csi.basalt.io');
    expect(first.vendorVersion).not.toBe('');
    expect(await identity('getPluginInfo', {})).toEqual(first);
  });

  it('GetPluginCapabilities: the controller service, zone topology and online expansion', async () => {
    const reply = await identity('getPluginCapabilities', {}) as csipb.GetPluginCapabilitiesResponse;
    expect(reply.capabilities.map((c) => c.service?.type ?? null).filter((t) => t !== null).sort()).toEqual([1, 2]);
    expect(reply.capabilities.map((c) => c.volumeExpansion?.type).filter((t) => t !== undefined)).toEqual([1]);
  });

  it('Probe answers ready while the cluster is reachable', async () => {
    const reply = await identity('probe', {}) as csipb.ProbeResponse;
    expect(reply.ready?.value).toBe(true);
  });
});

describe('CSI Controller', () => {
  it('ControllerGetCapabilities: create/delete, capacity, snapshots, list snapshots, clones and expansion; no publish', async () => {
    const reply = await controller('controllerGetCapabilities', {}) as csipb.ControllerGetCapabilitiesResponse;
    expect(reply.capabilities.map((c) => c.rpc?.type).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([1, 4, 5, 6, 7, 9]);
  });

  it('RPCs of capabilities not advertised answer UNIMPLEMENTED', async () => {
    expect(await code(raw('controllerPublishVolume', {}))).toBe(status.UNIMPLEMENTED);
  });

  it('CreateVolume makes a volume of whole extents with the parameters, accessible from the zones with servers', async () => {
    const req = { name: 'pvc-one', capacityRange: { requiredBytes: 5 * MiB }, volumeCapabilities: [writer], parameters: { replicas: '2', extentSizeBytes: String(4 * MiB) } };
    const reply = await controller('createVolume', req) as csipb.CreateVolumeResponse;
    expect(reply.volume?.volumeId).toBe('pvc-one');
    expect(reply.volume?.capacityBytes).toBe(8 * MiB);
    expect(zonesOf(reply.volume)).toEqual(['zone-a', 'zone-b', 'zone-c']);
    const sdk = cluster.client();
    expect(await sdk.getVolume('pvc-one')).toMatchObject({ sizeBytes: 8 * MiB, replicationFactor: 2, extentSizeBytes: 4 * MiB });
    // Idempotent: the same request again returns the same volume.
    expect(await controller('createVolume', req)).toEqual(reply);
    // A requirement the existing size still meets is compatible too.
    expect(((await controller('createVolume', { ...req, capacityRange: { requiredBytes: 8 * MiB } })) as csipb.CreateVolumeResponse).volume?.capacityBytes).toBe(8 * MiB);
  });

  it('CreateVolume of a volume that holds data answers with the zones of its replicas', async () => {
    const req = { name: 'pvc-placed', capacityRange: { requiredBytes: MiB }, volumeCapabilities: [block], parameters: { replicas: '2', extentSizeBytes: String(MiB) } };
    await controller('createVolume', req);
    const sdk = cluster.client();
    const volume = await sdk.openVolume('pvc-placed', { writer: true });
    await volume.write(0, Buffer.alloc(4096, 7));
    await volume.close();
    const [placement] = await sdk.extentPlacements('pvc-placed');
    const zoneOf = new Map((await sdk.listServers()).map((s) => [s.id, s.zone]));
    const expected = (placement?.replicas ?? []).map((r) => zoneOf.get(r.serverId)).sort();
    expect(expected).toHaveLength(2);
    expect(zonesOf(((await controller('createVolume', req)) as csipb.CreateVolumeResponse).volume)).toEqual(expected);
  });

  it('CreateVolume with the same name and other parameters or size is ALREADY_EXISTS', async () => {
    const req = { name: 'pvc-two', capacityRange: { requiredBytes: 4 * MiB }, volumeCapabilities: [writer], parameters: { replicas: '1', extentSizeBytes: String(4 * MiB) } };
    await controller('createVolume', req);
    expect(await code(controller('createVolume', { ...req, parameters: { ...req.parameters, replicas: '3' } }))).toBe(status.ALREADY_EXISTS);
    expect(await code(controller('createVolume', { ...req, parameters: { replicas: '1', extentSizeBytes: String(8 * MiB) } }))).toBe(status.ALREADY_EXISTS);
    expect(await code(controller('createVolume', { ...req, capacityRange: { requiredBytes: 16 * MiB } }))).toBe(status.ALREADY_EXISTS);
  });

  it('CreateVolume refuses missing and invalid arguments', async () => {
    const ok = { name: 'pvc-bad', volumeCapabilities: [writer], parameters: { extentSizeBytes: String(4 * MiB) } };
    expect(await code(controller('createVolume', { ...ok, name: '' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('createVolume', { ...ok, volumeCapabilities: [] }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('createVolume', { ...ok, volumeCapabilities: [multiWriter] }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('createVolume', { ...ok, volumeCapabilities: [{ accessMode: { mode: 1 } }] }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('createVolume', { ...ok, parameters: { replicas: '9' } }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('createVolume', { ...ok, parameters: { extentSizeBytes: '12345' } }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('createVolume', { ...ok, parameters: { colour: 'blue' } }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('createVolume', { ...ok, name: 'bad name!' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('createVolume', { ...ok, volumeContentSource: {} }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('createVolume', { ...ok, capacityRange: { requiredBytes: 5 * MiB, limitBytes: 6 * MiB } }))).toBe(status.OUT_OF_RANGE);
    expect(await code(cluster.client().getVolume('pvc-bad'))).not.toBe(status.OK);
  });

  it('CreateVolume honours requisite zones, and is RESOURCE_EXHAUSTED where no zone has a server', async () => {
    const req = { name: 'pvc-zoned', volumeCapabilities: [block], parameters: { replicas: '1', extentSizeBytes: String(MiB) } };
    const zoned = await controller('createVolume', { ...req, accessibilityRequirements: { requisite: [{ segments: { [zoneKey]: 'zone-b' } }] } }) as csipb.CreateVolumeResponse;
    expect(zonesOf(zoned.volume)).toEqual(['zone-b']);
    const nowhere = { ...req, name: 'pvc-nowhere', accessibilityRequirements: { requisite: [{ segments: { [zoneKey]: 'zone-x' } }] } };
    expect(await code(controller('createVolume', nowhere))).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('DeleteVolume removes the volume, is idempotent, and needs a volume id', async () => {
    await controller('createVolume', { name: 'pvc-del', volumeCapabilities: [writer], parameters: { extentSizeBytes: String(MiB) } });
    await controller('deleteVolume', { volumeId: 'pvc-del' });
    expect(await code(cluster.client().getVolume('pvc-del'))).not.toBe(status.OK);
    expect(await code(controller('deleteVolume', { volumeId: 'pvc-del' }))).toBe(status.OK);
    expect(await code(controller('deleteVolume', { volumeId: 'never-made' }))).toBe(status.OK);
    expect(await code(controller('deleteVolume', { volumeId: '' }))).toBe(status.INVALID_ARGUMENT);
  });

  it('ControllerExpandVolume grows to whole extents, is idempotent, never shrinks, and asks for a node expansion for filesystems', async () => {
    await controller('createVolume', { name: 'pvc-grow', capacityRange: { requiredBytes: 4 * MiB }, volumeCapabilities: [writer], parameters: { extentSizeBytes: String(4 * MiB) } });
    const grown = await controller('controllerExpandVolume', { volumeId: 'pvc-grow', capacityRange: { requiredBytes: 10 * MiB }, volumeCapability: writer }) as csipb.ControllerExpandVolumeResponse;
    expect(grown).toMatchObject({ capacityBytes: 12 * MiB, nodeExpansionRequired: true });
    expect((await cluster.client().getVolume('pvc-grow')).sizeBytes).toBe(12 * MiB);
    expect(await controller('controllerExpandVolume', { volumeId: 'pvc-grow', capacityRange: { requiredBytes: 10 * MiB }, volumeCapability: writer })).toEqual(grown);
    const smaller = await controller('controllerExpandVolume', { volumeId: 'pvc-grow', capacityRange: { requiredBytes: 4 * MiB }, volumeCapability: block }) as csipb.ControllerExpandVolumeResponse;
    expect(smaller).toMatchObject({ capacityBytes: 12 * MiB, nodeExpansionRequired: false });
    expect(await code(controller('controllerExpandVolume', { volumeId: '', capacityRange: { requiredBytes: MiB } }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('controllerExpandVolume', { volumeId: 'pvc-grow' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('controllerExpandVolume', { volumeId: 'pvc-grow', capacityRange: { requiredBytes: 13 * MiB, limitBytes: 14 * MiB } }))).toBe(status.OUT_OF_RANGE);
    expect(await code(controller('controllerExpandVolume', { volumeId: 'never-made', capacityRange: { requiredBytes: MiB } }))).toBe(status.NOT_FOUND);
  });

  it('ValidateVolumeCapabilities confirms what the driver serves and says why it does not', async () => {
    await controller('createVolume', { name: 'pvc-val', volumeCapabilities: [writer], parameters: { replicas: '2', extentSizeBytes: String(MiB) } });
    const yes = await controller('validateVolumeCapabilities', { volumeId: 'pvc-val', volumeCapabilities: [writer, block] }) as csipb.ValidateVolumeCapabilitiesResponse;
    expect(yes.confirmed?.volumeCapabilities).toHaveLength(2);
    const no = await controller('validateVolumeCapabilities', { volumeId: 'pvc-val', volumeCapabilities: [writer, multiWriter] }) as csipb.ValidateVolumeCapabilitiesResponse;
    expect(no.confirmed).toBeNull();
    expect(no.message).toContain('not supported');
    const otherParams = await controller('validateVolumeCapabilities', { volumeId: 'pvc-val', volumeCapabilities: [writer], parameters: { replicas: '3', extentSizeBytes: String(MiB) } }) as csipb.ValidateVolumeCapabilitiesResponse;
    expect(otherParams.confirmed).toBeNull();
    expect(await code(controller('validateVolumeCapabilities', { volumeId: '', volumeCapabilities: [writer] }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('validateVolumeCapabilities', { volumeId: 'pvc-val', volumeCapabilities: [] }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('validateVolumeCapabilities', { volumeId: 'never-made', volumeCapabilities: [writer] }))).toBe(status.NOT_FOUND);
  });

  it('GetCapacity is the up servers\' free bytes over the replicas, per zone when asked', async () => {
    const servers = await cluster.client().listServers();
    const free = servers.filter((s) => s.state === 'up').reduce((sum, s) => sum + s.freeBytes, 0);
    const one = await controller('getCapacity', { parameters: { replicas: '1' } }) as csipb.GetCapacityResponse;
    const three = await controller('getCapacity', { parameters: { replicas: '3' } }) as csipb.GetCapacityResponse;
    const zoneA = await controller('getCapacity', { parameters: { replicas: '1' }, accessibleTopology: { segments: { [zoneKey]: 'zone-a' } } }) as csipb.GetCapacityResponse;
    expect(one.availableCapacity).toBeGreaterThan(0);
    // Free bytes move with heartbeats; within 10% of what listServers said a moment ago.
    expect(Math.abs(one.availableCapacity - free)).toBeLessThan(free / 10);
    expect(three.availableCapacity).toBeLessThan(one.availableCapacity / 2);
    expect(zoneA.availableCapacity).toBeLessThan(one.availableCapacity);
    expect(zoneA.availableCapacity).toBeGreaterThan(0);
    expect(one.minimumVolumeSize?.value).toBeGreaterThan(0);
    expect((await controller('getCapacity', { volumeCapabilities: [multiWriter] }) as csipb.GetCapacityResponse).availableCapacity).toBe(0);
    expect(await code(controller('getCapacity', { parameters: { replicas: 'x' } }))).toBe(status.INVALID_ARGUMENT);
  });
});

describe('CSI Controller: snapshots and clones', () => {
  const params = { extentSizeBytes: String(4 * MiB) };
  const image = Buffer.alloc(64 * 1024, 0x5a);
  beforeAll(async () => {
    for (const name of ['pvc-snap', 'pvc-snap2']) await controller('createVolume', { name, capacityRange: { requiredBytes: 8 * MiB }, volumeCapabilities: [writer], parameters: params });
    const v = await cluster.client().openVolume('pvc-snap', { writer: true });
    await v.write(4 * MiB - 4096, image);
    await v.close();
  });

  it('CreateSnapshot takes a ready snapshot, is idempotent by name, and refuses a name another volume holds, missing arguments and a missing volume', async () => {
    const req = { sourceVolumeId: 'pvc-snap', name: 'snapshot-1' };
    const reply = await controller('createSnapshot', req) as csipb.CreateSnapshotResponse;
    expect(reply.snapshot).toMatchObject({ snapshotId: 'pvc-snap@snapshot-1', sourceVolumeId: 'pvc-snap', readyToUse: true, sizeBytes: 8 * MiB });
    expect(Number(reply.snapshot?.creationTime?.seconds)).toBeGreaterThan(0);
    expect(await controller('createSnapshot', req)).toEqual(reply);
    expect(await code(controller('createSnapshot', { sourceVolumeId: 'pvc-snap2', name: 'snapshot-1' }))).toBe(status.ALREADY_EXISTS);
    expect(await code(controller('createSnapshot', { sourceVolumeId: '', name: 'x' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('createSnapshot', { sourceVolumeId: 'pvc-snap', name: '' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('createSnapshot', { sourceVolumeId: 'pvc-snap', name: 'bad name!' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('createSnapshot', { sourceVolumeId: 'pvc-nope', name: 'snapshot-9' }))).toBe(status.NOT_FOUND);
  });

  it('ListSnapshots by id, by source volume and all of them, in pages; a bad token is ABORTED', async () => {
    await controller('createSnapshot', { sourceVolumeId: 'pvc-snap', name: 'snapshot-2' });
    await controller('createSnapshot', { sourceVolumeId: 'pvc-snap2', name: 'snapshot-3' });
    const ids = async (req: object): Promise<(string | null | undefined)[]> => ((await controller('listSnapshots', req)) as csipb.ListSnapshotsResponse).entries.map((e) => e.snapshot?.snapshotId);
    expect(await ids({ snapshotId: 'pvc-snap@snapshot-2' })).toEqual(['pvc-snap@snapshot-2']);
    expect(await ids({ snapshotId: 'pvc-snap@nope' })).toEqual([]);
    expect(await ids({ snapshotId: 'not-an-id' })).toEqual([]);
    expect(await ids({ sourceVolumeId: 'pvc-snap' })).toEqual(['pvc-snap@snapshot-1', 'pvc-snap@snapshot-2']);
    expect(await ids({ sourceVolumeId: 'pvc-nope' })).toEqual([]);
    const first = await controller('listSnapshots', { maxEntries: 2 }) as csipb.ListSnapshotsResponse;
    expect(first.entries.map((e) => e.snapshot?.snapshotId)).toEqual(['pvc-snap2@snapshot-3', 'pvc-snap@snapshot-1']);
    const second = await controller('listSnapshots', { maxEntries: 2, startingToken: first.nextToken }) as csipb.ListSnapshotsResponse;
    expect(second.entries.map((e) => e.snapshot?.snapshotId)).toEqual(['pvc-snap@snapshot-2']);
    expect(second.nextToken).toBe('');
    expect(await code(controller('listSnapshots', { startingToken: 'zz' }))).toBe(status.ABORTED);
    expect(await code(controller('listSnapshots', { maxEntries: -1 }))).toBe(status.INVALID_ARGUMENT);
  });

  it('CreateVolume from a snapshot and from a volume: clones that read as their source, idempotent, grown to the range; missing sources are NOT_FOUND', async () => {
    const fromSnap = { name: 'pvc-from-snap', capacityRange: { requiredBytes: 12 * MiB }, volumeCapabilities: [writer], parameters: params, volumeContentSource: { snapshot: { snapshotId: 'pvc-snap@snapshot-1' } } };
    const reply = await controller('createVolume', fromSnap) as csipb.CreateVolumeResponse;
    expect(reply.volume).toMatchObject({ volumeId: 'pvc-from-snap', capacityBytes: 12 * MiB, contentSource: { snapshot: { snapshotId: 'pvc-snap@snapshot-1' } } });
    expect(await controller('createVolume', fromSnap)).toEqual(reply);
    const fromVol = { ...fromSnap, name: 'pvc-from-vol', capacityRange: { requiredBytes: 8 * MiB }, volumeContentSource: { volume: { volumeId: 'pvc-snap' } } };
    expect(((await controller('createVolume', fromVol)) as csipb.CreateVolumeResponse).volume?.contentSource?.volume?.volumeId).toBe('pvc-snap');
    for (const name of ['pvc-from-snap', 'pvc-from-vol']) {
      const v = await cluster.client().openVolume(name);
      expect((await v.read(4 * MiB - 4096, image.length)).equals(image), name).toBe(true);
      await v.close();
    }
    expect(await code(controller('createVolume', { ...fromSnap, volumeContentSource: { volume: { volumeId: 'pvc-snap2' } } }))).toBe(status.ALREADY_EXISTS);
    expect(await code(controller('createVolume', { ...fromSnap, name: 'pvc-x', volumeContentSource: { snapshot: { snapshotId: 'pvc-snap@nope' } } }))).toBe(status.NOT_FOUND);
    expect(await code(controller('createVolume', { ...fromSnap, name: 'pvc-x', volumeContentSource: { snapshot: { snapshotId: 'not-an-id' } } }))).toBe(status.NOT_FOUND);
    expect(await code(controller('createVolume', { ...fromSnap, name: 'pvc-x', volumeContentSource: { volume: { volumeId: 'pvc-nope' } } }))).toBe(status.NOT_FOUND);
    expect(await code(controller('createVolume', { ...fromSnap, name: 'pvc-x', capacityRange: { requiredBytes: 4 * MiB, limitBytes: 4 * MiB } }))).toBe(status.OUT_OF_RANGE);
  });

  it('CreateVolume from a snapshot of an encrypted volume (StorageClass encrypted: "true"): an encrypted clone that reads as the snapshot; a clone keeps its source\'s encryption', async () => {
    const encrypted = { ...params, encrypted: 'true' };
    await controller('createVolume', { name: 'pvc-enc', capacityRange: { requiredBytes: 8 * MiB }, volumeCapabilities: [writer], parameters: encrypted });
    const keyed = cluster.client({ keyProvider: new FileKeyProvider(kek) });
    const v = await keyed.openVolume('pvc-enc', { writer: true });
    await v.write(4 * MiB - 4096, image);
    await v.close();
    await controller('createSnapshot', { sourceVolumeId: 'pvc-enc', name: 'snapshot-enc' });
    const fromSnap = { name: 'pvc-enc-clone', capacityRange: { requiredBytes: 8 * MiB }, volumeCapabilities: [writer], parameters: encrypted, volumeContentSource: { snapshot: { snapshotId: 'pvc-enc@snapshot-enc' } } };
    expect(((await controller('createVolume', fromSnap)) as csipb.CreateVolumeResponse).volume).toMatchObject({ volumeId: 'pvc-enc-clone', capacityBytes: 8 * MiB });
    const info = await keyed.getVolume('pvc-enc-clone');
    expect(info.encryption?.keyVolumeId).toBe((await keyed.getVolume('pvc-enc')).id);
    const clone = await keyed.openVolume('pvc-enc-clone');
    expect((await clone.read(4 * MiB - 4096, image.length)).equals(image)).toBe(true);
    await clone.close();
    expect(await code(controller('createVolume', { ...fromSnap, name: 'pvc-x', parameters: params }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(controller('createVolume', { ...fromSnap, name: 'pvc-x', volumeContentSource: { volume: { volumeId: 'pvc-snap2' } } }))).toBe(status.INVALID_ARGUMENT);
  });

  it('DeleteSnapshot is idempotent and needs an id; a clone of a deleted snapshot stays readable', async () => {
    expect(await controller('deleteSnapshot', { snapshotId: 'pvc-snap@snapshot-1' })).toEqual({});
    expect(await controller('deleteSnapshot', { snapshotId: 'pvc-snap@snapshot-1' })).toEqual({});
    expect(await controller('deleteSnapshot', { snapshotId: 'not-an-id' })).toEqual({});
    expect(await code(controller('deleteSnapshot', { snapshotId: '' }))).toBe(status.INVALID_ARGUMENT);
    expect((await controller('listSnapshots', { snapshotId: 'pvc-snap@snapshot-1' }) as csipb.ListSnapshotsResponse).entries).toEqual([]);
    const v = await cluster.client().openVolume('pvc-from-snap');
    expect((await v.read(4 * MiB - 4096, image.length)).equals(image)).toBe(true);
    await v.close();
  });
});

describe('CSI Node (arguments and error codes; no NBD kernel driver on this host)', () => {
  it('NodeGetInfo and NodeGetCapabilities: the node id, its zone, stage/unstage, stats and expansion', async () => {
    const info = await node('nodeGetInfo', {}) as csipb.NodeGetInfoResponse;
    expect(info.nodeId).toBe('node-1');
    expect(info.accessibleTopology?.segments?.[zoneKey]).toBe('zone-a');
    const caps = await node('nodeGetCapabilities', {}) as csipb.NodeGetCapabilitiesResponse;
    expect(caps.capabilities.map((c) => c.rpc?.type).sort()).toEqual([1, 2, 3]);
  });

  it('NodeStageVolume needs a volume id, a staging path and a supported capability, and a volume that exists', async () => {
    const staging = join(dir, 'staging');
    const ok = { volumeId: 'pvc-one', stagingTargetPath: staging, volumeCapability: writer };
    expect(await code(node('nodeStageVolume', { ...ok, volumeId: '' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodeStageVolume', { ...ok, stagingTargetPath: '' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodeStageVolume', { volumeId: 'pvc-one', stagingTargetPath: staging }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodeStageVolume', { ...ok, volumeCapability: multiWriter }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodeStageVolume', { ...ok, volumeCapability: { mount: { mountFlags: ['bind'] }, accessMode: { mode: 1 } } }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodeStageVolume', { ...ok, volumeId: 'never-made' }))).toBe(status.NOT_FOUND);
    // A reader needs a read-only agent (--read-only-agent, not given here): the read-write one would take the writer lease.
    const reader = { mount: { fsType: 'ext4' }, accessMode: { mode: 3 /* MULTI_NODE_READER_ONLY */ } };
    await expect(node('nodeStageVolume', { ...ok, volumeCapability: reader })).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringMatching(/read-only agent/) });
    if (!existsSync('/sys/module/nbd')) {
      // Without the kernel's NBD driver the SDK cannot attach: the node is not fit to stage.
      expect(await code(node('nodeStageVolume', ok))).toBe(status.FAILED_PRECONDITION);
    }
  });

  it('NodeUnstageVolume and NodeUnpublishVolume are idempotent and need their arguments', async () => {
    expect(await code(node('nodeUnstageVolume', { volumeId: 'pvc-one', stagingTargetPath: join(dir, 'never-staged') }))).toBe(status.OK);
    expect(await code(node('nodeUnstageVolume', { volumeId: '', stagingTargetPath: join(dir, 'x') }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodeUnstageVolume', { volumeId: 'pvc-one', stagingTargetPath: '' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodeUnpublishVolume', { volumeId: 'pvc-one', targetPath: join(dir, 'never-published') }))).toBe(status.OK);
    expect(await code(node('nodeUnpublishVolume', { volumeId: 'pvc-one', targetPath: '' }))).toBe(status.INVALID_ARGUMENT);
    // An unmounted target is removed when empty, and never emptied.
    const empty = join(dir, 'empty-target');
    const full = join(dir, 'full-target');
    mkdirSync(empty);
    mkdirSync(full);
    writeFileSync(join(full, 'keep'), 'data');
    await node('nodeUnpublishVolume', { volumeId: 'pvc-one', targetPath: empty });
    await node('nodeUnpublishVolume', { volumeId: 'pvc-one', targetPath: full });
    expect(existsSync(empty)).toBe(false);
    expect(existsSync(join(full, 'keep'))).toBe(true);
  });

  it('NodePublishVolume needs its arguments and a staged volume', async () => {
    const ok = { volumeId: 'pvc-one', stagingTargetPath: join(dir, 'staging'), targetPath: join(dir, 'target'), volumeCapability: writer };
    expect(await code(node('nodePublishVolume', { ...ok, volumeId: '' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodePublishVolume', { ...ok, targetPath: '' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodePublishVolume', { ...ok, stagingTargetPath: '' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodePublishVolume', { ...ok, volumeCapability: null }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodePublishVolume', ok))).toBe(status.FAILED_PRECONDITION);
  });

  it('NodeGetVolumeStats reports bytes and inodes of a mounted path, NOT_FOUND for a missing one', async () => {
    const path = join(dir, 'stats');
    mkdirSync(path);
    const stats = await node('nodeGetVolumeStats', { volumeId: 'pvc-one', volumePath: path }) as csipb.NodeGetVolumeStatsResponse;
    const bytes = stats.usage.find((u) => u.unit === csipb.VolumeUsage.Unit.BYTES);
    expect(bytes?.total).toBeGreaterThan(0);
    expect((bytes?.used ?? 0) + (bytes?.available ?? 0)).toBeLessThanOrEqual(bytes?.total ?? 0);
    expect(stats.usage.find((u) => u.unit === csipb.VolumeUsage.Unit.INODES)?.total).toBeGreaterThan(0);
    expect(await code(node('nodeGetVolumeStats', { volumeId: 'pvc-one', volumePath: join(dir, 'missing') }))).toBe(status.NOT_FOUND);
    expect(await code(node('nodeGetVolumeStats', { volumeId: 'pvc-one', volumePath: '' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodeGetVolumeStats', { volumeId: '', volumePath: path }))).toBe(status.INVALID_ARGUMENT);
  });

  it('NodeExpandVolume needs its arguments and a volume staged here', async () => {
    expect(await code(node('nodeExpandVolume', { volumeId: '', volumePath: join(dir, 'target') }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodeExpandVolume', { volumeId: 'pvc-one', volumePath: '' }))).toBe(status.INVALID_ARGUMENT);
    expect(await code(node('nodeExpandVolume', { volumeId: 'never-made', volumePath: join(dir, 'target') }))).toBe(status.NOT_FOUND);
    expect(await code(node('nodeExpandVolume', { volumeId: 'pvc-one', volumePath: join(dir, 'target') }))).toBe(status.NOT_FOUND);
  });
});
