import type { BasaltClient, SnapshotInfo, VolumeInfo } from '@basalt/client';
import { isBasaltError, ErrorCode, limits } from '@basalt/stdx';
import type { csipb } from '@basalt/wire';
import { sizeSatisfies, volumeSizeFor } from './core/capacity.js';
import { Code, CsiStatus, invalid } from './core/csi-status.js';
import { parseParameters } from './core/parameters.js';
import { requisiteZones, zoneTopologies, zoneKey } from './core/topology.js';
import { requireSupported, unsupportedReason } from './core/volume-capability.js';
import { pageStart, parseSnapshotId, snapshotId } from './core/snapshot-id.js';
import { capabilityFromPb, rangeFromPb } from './from-pb.js';

const rpc = (type: number): csipb.IControllerServiceCapability => ({ rpc: { type } });

/**
 * The Controller service on the SDK's control plane. A CSI volume id is the Basalt volume name
 * (the CO's name for it), so CreateVolume is idempotent by name: an existing volume with the same
 * replicas, extent size and a size in the range is returned, one that differs is ALREADY_EXISTS.
 */
export function controllerHandlers(client: BasaltClient) {
  return {
    controllerGetCapabilities: (): csipb.IControllerGetCapabilitiesResponse => ({
      capabilities: [
        rpc(1 /* CREATE_DELETE_VOLUME */), rpc(4 /* GET_CAPACITY */), rpc(5 /* CREATE_DELETE_SNAPSHOT */), rpc(6 /* LIST_SNAPSHOTS */),
        rpc(7 /* CLONE_VOLUME */), rpc(9 /* EXPAND_VOLUME */),
      ],
    }),

    createVolume: async (req: csipb.CreateVolumeRequest): Promise<csipb.ICreateVolumeResponse> => {
      if (req.name === '') throw invalid('name is required');
      requireSupported(req.volumeCapabilities.map(capabilityFromPb), 'volume_capabilities');
      const params = parseParameters(req.parameters);
      const range = rangeFromPb(req.capacityRange);
      const sizeBytes = volumeSizeFor(range, params.extentSizeBytes);
      if (req.volumeContentSource) return createFromSource(client, req, params, sizeBytes, range);
      const zones = await clusterZones(client);
      const allowed = requisiteZones(req.accessibilityRequirements?.requisite ?? []);
      const reachable = allowed === null ? zones : zones.filter((z) => allowed.includes(z));
      if (reachable.length === 0) throw new CsiStatus(Code.resourceExhausted, `no chunk server is up in the requisite zones ${JSON.stringify(allowed)}`);
      let volume: VolumeInfo;
      let zonesOfVolume = reachable;
      try {
        volume = await client.createVolume(req.name, { sizeBytes, ...params });
      } catch (err) {
        if (!isBasaltError(err, ErrorCode.VolumeExists)) throw err;
        volume = await client.getVolume(req.name);
        const encrypted = volume.encryption !== undefined;
        const same = volume.replicationFactor === params.replicationFactor && volume.extentSizeBytes === params.extentSizeBytes && encrypted === params.encrypt && sizeSatisfies(volume.sizeBytes, range);
        if (!same) {
          throw new CsiStatus(Code.alreadyExists, `volume ${req.name} exists with ${volume.replicationFactor} replicas, ${volume.extentSizeBytes}-byte extents, ${encrypted ? 'encrypted' : 'not encrypted'}, and ${volume.sizeBytes} bytes, which this request does not match`);
        }
        zonesOfVolume = await placementZones(client, req.name, reachable);
      }
      return { volume: { volumeId: volume.name, capacityBytes: volume.sizeBytes, accessibleTopology: zoneTopologies(zonesOfVolume) } };
    },

    deleteVolume: async (req: csipb.DeleteVolumeRequest): Promise<csipb.IDeleteVolumeResponse> => {
      if (req.volumeId === '') throw invalid('volume_id is required');
      try {
        await client.deleteVolume(req.volumeId);
      } catch (err) {
        if (!isBasaltError(err, ErrorCode.VolumeNotFound)) throw err;
      }
      return {};
    },

    controllerExpandVolume: async (req: csipb.ControllerExpandVolumeRequest): Promise<csipb.IControllerExpandVolumeResponse> => {
      if (req.volumeId === '') throw invalid('volume_id is required');
      const range = rangeFromPb(req.capacityRange);
      if (range === null) throw invalid('capacity_range is required');
      const volume = await client.getVolume(req.volumeId);
      const sizeBytes = volumeSizeFor(range, volume.extentSizeBytes);
      const grown = sizeBytes <= volume.sizeBytes ? volume : await client.resizeVolume(req.volumeId, sizeBytes);
      const block = req.volumeCapability?.block !== undefined && req.volumeCapability.block !== null;
      return { capacityBytes: grown.sizeBytes, nodeExpansionRequired: !block };
    },

    validateVolumeCapabilities: async (req: csipb.ValidateVolumeCapabilitiesRequest): Promise<csipb.IValidateVolumeCapabilitiesResponse> => {
      if (req.volumeId === '') throw invalid('volume_id is required');
      if (req.volumeCapabilities.length === 0) throw invalid('volume_capabilities is required');
      const volume = await client.getVolume(req.volumeId);
      for (const cap of req.volumeCapabilities) {
        const reason = unsupportedReason(capabilityFromPb(cap));
        if (reason !== null) return { message: reason };
      }
      const params = parseParameters(req.parameters);
      if (Object.keys(req.parameters).length > 0 && (params.replicationFactor !== volume.replicationFactor || params.extentSizeBytes !== volume.extentSizeBytes || params.encrypt !== (volume.encryption !== undefined))) {
        return { message: `volume ${volume.name} has ${volume.replicationFactor} replicas, ${volume.extentSizeBytes}-byte extents and is ${volume.encryption !== undefined ? '' : 'not '}encrypted, not the parameters given` };
      }
      return { confirmed: { volumeContext: req.volumeContext, volumeCapabilities: req.volumeCapabilities, parameters: req.parameters } };
    },

    createSnapshot: async (req: csipb.CreateSnapshotRequest): Promise<csipb.ICreateSnapshotResponse> => {
      if (req.sourceVolumeId === '') throw invalid('source_volume_id is required');
      if (req.name === '') throw invalid('name is required');
      await client.getVolume(req.sourceVolumeId);
      const other = await volumeWithSnapshot(client, req.name, req.sourceVolumeId);
      if (other !== undefined) throw new CsiStatus(Code.alreadyExists, `snapshot name ${req.name} is taken by a snapshot of volume ${other}`);
      let snap: SnapshotInfo;
      try {
        snap = await client.createSnapshot(req.sourceVolumeId, req.name);
      } catch (err) {
        if (!isBasaltError(err, ErrorCode.SnapshotExists)) throw err;
        snap = (await client.listSnapshots(req.sourceVolumeId)).find((x) => x.name === req.name) ?? await client.getSnapshot(req.sourceVolumeId, req.name);
      }
      return { snapshot: snapshotToCsi(snap) };
    },

    deleteSnapshot: async (req: csipb.DeleteSnapshotRequest): Promise<csipb.IDeleteSnapshotResponse> => {
      if (req.snapshotId === '') throw invalid('snapshot_id is required');
      const id = parseSnapshotId(req.snapshotId);
      if (id === undefined) return {};
      try {
        await client.deleteSnapshot(id.volume, id.snapshot);
      } catch (err) {
        if (!isBasaltError(err, ErrorCode.SnapshotNotFound) && !isBasaltError(err, ErrorCode.VolumeNotFound)) throw err;
      }
      return {};
    },

    listSnapshots: async (req: csipb.ListSnapshotsRequest): Promise<csipb.IListSnapshotsResponse> => {
      if (req.maxEntries < 0) throw invalid('max_entries must not be negative');
      const all = (await snapshotsMatching(client, req)).sort((a, b) => compare(snapshotId(a.volume, a.name), snapshotId(b.volume, b.name)));
      const start = pageStart(req.startingToken, all.length);
      if (start === undefined) throw new CsiStatus(Code.aborted, `starting_token ${JSON.stringify(req.startingToken)} is not one this driver gave`);
      const end = req.maxEntries === 0 ? all.length : Math.min(all.length, start + req.maxEntries);
      return { entries: all.slice(start, end).map((snap) => ({ snapshot: snapshotToCsi(snap) })), nextToken: end < all.length ? String(end) : '' };
    },

    getCapacity: async (req: csipb.GetCapacityRequest): Promise<csipb.IGetCapacityResponse> => {
      for (const cap of req.volumeCapabilities) {
        if (unsupportedReason(capabilityFromPb(cap)) !== null) return { availableCapacity: 0 };
      }
      const params = parseParameters(req.parameters);
      const zone = req.accessibleTopology?.segments?.[zoneKey];
      const servers = (await client.listServers()).filter((s) => s.state === 'up' && (zone === undefined || s.zone === zone));
      const free = servers.reduce((sum, s) => sum + s.freeBytes, 0);
      return {
        availableCapacity: Math.floor(free / params.replicationFactor),
        maximumVolumeSize: { value: limits.volumeSizeBytesMax },
        minimumVolumeSize: { value: params.extentSizeBytes },
      };
    },
  };
}

/**
 * The zones of an existing volume's replicas (those of them in `allowed`); `allowed` itself while
 * the volume has no extent placed yet (volumes are thin: the first write places an extent).
 */
async function placementZones(client: BasaltClient, name: string, allowed: readonly string[]): Promise<string[]> {
  const zoneOf = new Map((await client.listServers()).map((s) => [s.id, s.zone]));
  const placed = (await client.extentPlacements(name)).flatMap((p) => p.replicas.map((r) => zoneOf.get(r.serverId) ?? ''));
  const zones = placed.filter((z) => allowed.includes(z));
  return zones.length === 0 ? [...allowed] : zones;
}

/** Zones with a chunk server up: where a new volume's replicas can be placed. */
async function clusterZones(client: BasaltClient): Promise<string[]> {
  return [...new Set((await client.listServers()).filter((s) => s.state === 'up').map((s) => s.zone))];
}

function snapshotToCsi(snap: SnapshotInfo): csipb.ISnapshot {
  const seconds = Math.floor(snap.createdAtMs / 1000);
  return {
    sizeBytes: snap.sizeBytes, snapshotId: snapshotId(snap.volume, snap.name), sourceVolumeId: snap.volume,
    creationTime: { seconds, nanos: (snap.createdAtMs - seconds * 1000) * 1e6 }, readyToUse: snap.state === 'ready',
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Another volume that holds a snapshot with this name (CSI snapshot names are unique across the driver). */
async function volumeWithSnapshot(client: BasaltClient, name: string, except: string): Promise<string | undefined> {
  for (const v of await client.listVolumes()) {
    if (v.name === except || v.snapshotCount === 0) continue;
    if ((await client.listSnapshots(v.name)).some((x) => x.name === name)) return v.name;
  }
  return undefined;
}

/** The snapshots a ListSnapshots request selects: one by id, a volume's, or every volume's. */
async function snapshotsMatching(client: BasaltClient, req: csipb.ListSnapshotsRequest): Promise<SnapshotInfo[]> {
  const ofVolume = async (volume: string): Promise<SnapshotInfo[]> => client.listSnapshots(volume).catch((err: unknown) => {
    if (isBasaltError(err, ErrorCode.VolumeNotFound)) return [];
    throw err;
  });
  if (req.snapshotId !== '') {
    const id = parseSnapshotId(req.snapshotId);
    if (id === undefined || (req.sourceVolumeId !== '' && req.sourceVolumeId !== id.volume)) return [];
    return (await ofVolume(id.volume)).filter((x) => x.name === id.snapshot);
  }
  if (req.sourceVolumeId !== '') return ofVolume(req.sourceVolumeId);
  const volumes = (await client.listVolumes()).filter((v) => v.snapshotCount > 0);
  return (await Promise.all(volumes.map((v) => ofVolume(v.name)))).flat();
}

/**
 * CreateVolume with a content source: a clone of the snapshot, or of a fresh snapshot of the
 * source volume (taken with the source's writer lease, so FAILED_PRECONDITION while the source is
 * staged; deleted at once: it stays hidden while the clone reads through it). Idempotent by name:
 * an existing clone of the same source is returned. The clone has the source's replicas and
 * extent size; a larger size grows it.
 */
async function createFromSource(client: BasaltClient, req: csipb.CreateVolumeRequest, params: { replicationFactor: number; extentSizeBytes: number; encrypt: boolean }, sizeBytes: number, range: ReturnType<typeof rangeFromPb>): Promise<csipb.ICreateVolumeResponse> {
  const source = req.volumeContentSource!;
  const fromSnapshot = source.snapshot?.snapshotId ?? undefined;
  const fromVolume = source.volume?.volumeId ?? undefined;
  if (fromSnapshot === undefined && fromVolume === undefined) throw invalid('volume_content_source names neither a snapshot nor a volume');
  const snapRef = fromSnapshot === undefined ? undefined : parseSnapshotId(fromSnapshot);
  if (fromSnapshot !== undefined && snapRef === undefined) throw new CsiStatus(Code.notFound, `snapshot ${fromSnapshot} does not exist`);
  const sourceVolume = snapRef?.volume ?? fromVolume!;
  const src = await client.getVolume(sourceVolume);
  if (src.extentSizeBytes !== params.extentSizeBytes || src.replicationFactor !== params.replicationFactor) {
    throw invalid(`a clone keeps its source's ${src.replicationFactor} replicas and ${src.extentSizeBytes}-byte extents; the parameters ask for ${params.replicationFactor} and ${params.extentSizeBytes}`);
  }
  if ((src.encryption !== undefined) !== params.encrypt) {
    // A clone shares its source's data key (docs/security.md, "Clones"): it is encrypted exactly when the source is.
    throw invalid(`a clone keeps its source's encryption: ${sourceVolume} is ${src.encryption === undefined ? 'not ' : ''}encrypted; the parameters ask for encrypted "${String(params.encrypt)}"`);
  }
  const existing = await client.getVolume(req.name).catch((err: unknown) => {
    if (isBasaltError(err, ErrorCode.VolumeNotFound)) return undefined;
    throw err;
  });
  let volume: VolumeInfo;
  if (existing !== undefined) {
    const same = existing.parent?.volume === sourceVolume && (snapRef === undefined || existing.parent.snapshot === snapRef.snapshot) && sizeSatisfies(existing.sizeBytes, range);
    if (!same) throw new CsiStatus(Code.alreadyExists, `volume ${req.name} exists and is not a clone of ${fromSnapshot ?? fromVolume} of this size`);
    volume = existing;
  } else {
    const snapName = snapRef?.snapshot ?? `csi-clone-${req.name}`;
    if (snapRef === undefined) await client.createSnapshot(sourceVolume, snapName);
    const snap = await client.getSnapshot(sourceVolume, snapName);
    if (sizeBytes < snap.sizeBytes) throw new CsiStatus(Code.outOfRange, `the source holds ${snap.sizeBytes} bytes; the capacity range allows at most ${sizeBytes}`);
    volume = await client.cloneVolume(sourceVolume, snapName, req.name);
    if (snapRef === undefined) await client.deleteSnapshot(sourceVolume, snapName);
    if (sizeBytes > volume.sizeBytes) volume = await client.resizeVolume(req.name, sizeBytes);
  }
  const zones = await clusterZones(client);
  return { volume: { volumeId: volume.name, capacityBytes: volume.sizeBytes, accessibleTopology: zoneTopologies(zones), contentSource: source } };
}
