import type { BasaltClient, VolumeInfo } from '@basalt/client';
import { isBasaltError, ErrorCode, limits } from '@basalt/stdx';
import type { csipb } from '@basalt/wire';
import { sizeSatisfies, volumeSizeFor } from './core/capacity.js';
import { Code, CsiStatus, invalid } from './core/csi-status.js';
import { parseParameters } from './core/parameters.js';
import { requisiteZones, zoneTopologies, zoneKey } from './core/topology.js';
import { requireSupported, unsupportedReason } from './core/volume-capability.js';
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
      capabilities: [rpc(1 /* CREATE_DELETE_VOLUME */), rpc(4 /* GET_CAPACITY */), rpc(9 /* EXPAND_VOLUME */)],
    }),

    createVolume: async (req: csipb.CreateVolumeRequest): Promise<csipb.ICreateVolumeResponse> => {
      if (req.name === '') throw invalid('name is required');
      requireSupported(req.volumeCapabilities.map(capabilityFromPb), 'volume_capabilities');
      if (req.volumeContentSource) throw invalid('volume_content_source is not supported: snapshots and clones are not implemented');
      const params = parseParameters(req.parameters);
      const range = rangeFromPb(req.capacityRange);
      const sizeBytes = volumeSizeFor(range, params.extentSizeBytes);
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
