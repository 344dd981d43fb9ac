import { mkdir, readFile, rm, rmdir, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { attachVolumeDevice, detachVolumeDevice, type BasaltClient } from '@basalt/client';
import type { csipb } from '@basalt/wire';
import { Code, CsiStatus, invalid } from './core/csi-status.js';
import { growCommand, mkfsCommand, mountOptions } from './core/mount-options.js';
import { expansionCapacity } from './core/node-expansion.js';
import { zoneKey } from './core/topology.js';
import { fsTypeOf, requireSupported, type FsType } from './core/volume-capability.js';
import { capabilityFromPb, rangeFromPb } from './from-pb.js';
import { deviceSizeBytes, filesystemOf, isMountPoint, runCommand } from './node-host.js';

export interface NodeOptions {
  readonly client: BasaltClient;
  /** This node's id (the Kubernetes node name). */
  readonly nodeId: string;
  /** This node's zone ('' when it has none: no topology is reported). */
  readonly zone: string;
  /** The NBD agent on this node. */
  readonly agent: { readonly host: string; readonly port: number };
  /**
   * An agent on this node run with --read-only, for read-only stages (ReadOnlyMany): the NBD
   * protocol cannot ask a read-write agent for a read-only export, and that agent takes the
   * volume's writer lease, so a second node's reader would be refused. Without it, read-only
   * stages are refused.
   */
  readonly readOnlyAgent?: { readonly host: string; readonly port: number };
  /** Where staged volumes are recorded (device and filesystem per volume id). */
  readonly stateDir: string;
  /** NBD connections per attached device. */
  readonly connections: number;
}

/** What NodeStage recorded for a volume, read back by the calls that follow it. */
interface Staged {
  readonly device: string;
  readonly block: boolean;
  readonly fsType: FsType;
}

const nodeRpc = (type: number): csipb.INodeServiceCapability => ({ rpc: { type } });

/**
 * The Node service: NodeStage attaches the volume through the node's NBD agent (the SDK's
 * attachVolumeDevice), makes a filesystem on first use and mounts it at the staging path (raw
 * block: records the device only); NodePublish bind-mounts the staging mount (or the device,
 * for raw block) at the target path. Every call is idempotent; arguments are checked first.
 */
export function nodeHandlers(opts: NodeOptions) {
  const statePath = (volumeId: string): string => join(opts.stateDir, `${encodeURIComponent(volumeId)}.json`);
  const readStaged = async (volumeId: string): Promise<Staged | null> => {
    try {
      return JSON.parse(await readFile(statePath(volumeId), 'utf8')) as Staged;
    } catch {
      return null;
    }
  };
  return {
    nodeGetInfo: (): csipb.INodeGetInfoResponse => ({
      nodeId: opts.nodeId,
      ...(opts.zone !== '' && { accessibleTopology: { segments: { [zoneKey]: opts.zone } } }),
    }),

    nodeGetCapabilities: (): csipb.INodeGetCapabilitiesResponse => ({
      capabilities: [nodeRpc(1 /* STAGE_UNSTAGE_VOLUME */), nodeRpc(2 /* GET_VOLUME_STATS */), nodeRpc(3 /* EXPAND_VOLUME */)],
    }),

    nodeStageVolume: async (req: csipb.NodeStageVolumeRequest): Promise<csipb.INodeStageVolumeResponse> => {
      if (req.volumeId === '') throw invalid('volume_id is required');
      if (req.stagingTargetPath === '') throw invalid('staging_target_path is required');
      if (!req.volumeCapability) throw invalid('volume_capability is required');
      const cap = capabilityFromPb(req.volumeCapability);
      requireSupported([cap], 'volume_capability');
      const readOnly = cap.mode === 2 || cap.mode === 3;
      const options = mountOptions(cap.mountFlags, readOnly);
      await opts.client.getVolume(req.volumeId);
      const block = cap.accessType === 'block';
      let staged = await readStaged(req.volumeId);
      if (staged !== null && staged.block !== block) throw new CsiStatus(Code.alreadyExists, `volume ${req.volumeId} is already staged with another access type`);
      if (staged === null) {
        const agent = readOnly ? opts.readOnlyAgent : opts.agent;
        if (agent === undefined) {
          throw new CsiStatus(Code.failedPrecondition, `volume ${req.volumeId} is staged read-only, which needs a read-only agent on this node (basalt csi --read-only-agent): the read-write agent would take its writer lease`);
        }
        // Recorded before anything else can fail, so a retry reuses the device instead of attaching another.
        const device = await attachVolumeDevice({ host: agent.host, port: agent.port, volume: req.volumeId, readOnly, connections: opts.connections });
        staged = { device, block, fsType: fsTypeOf(cap) };
        await mkdir(opts.stateDir, { recursive: true });
        await writeFile(statePath(req.volumeId), JSON.stringify(staged));
      }
      if (block || (await isMountPoint(req.stagingTargetPath))) return {};
      const found = await filesystemOf(staged.device);
      if (found === '') await runCommand(mkfsCommand(staged.fsType, staged.device));
      else if (found !== staged.fsType) throw new CsiStatus(Code.failedPrecondition, `volume ${req.volumeId} holds a ${found} filesystem, not ${staged.fsType}`);
      await mkdir(req.stagingTargetPath, { recursive: true });
      await runCommand(['mount', '-t', staged.fsType, ...(options.length > 0 ? ['-o', options.join(',')] : []), staged.device, req.stagingTargetPath]);
      return {};
    },

    nodeUnstageVolume: async (req: csipb.NodeUnstageVolumeRequest): Promise<csipb.INodeUnstageVolumeResponse> => {
      if (req.volumeId === '') throw invalid('volume_id is required');
      if (req.stagingTargetPath === '') throw invalid('staging_target_path is required');
      const staged = await readStaged(req.volumeId);
      if (await isMountPoint(req.stagingTargetPath)) await runCommand(['umount', req.stagingTargetPath]);
      if (staged !== null) {
        await detachVolumeDevice(staged.device);
        await rm(statePath(req.volumeId), { force: true });
      }
      return {};
    },

    nodePublishVolume: async (req: csipb.NodePublishVolumeRequest): Promise<csipb.INodePublishVolumeResponse> => {
      if (req.volumeId === '') throw invalid('volume_id is required');
      if (req.stagingTargetPath === '') throw invalid('staging_target_path is required (the driver stages volumes)');
      if (req.targetPath === '') throw invalid('target_path is required');
      if (!req.volumeCapability) throw invalid('volume_capability is required');
      const cap = capabilityFromPb(req.volumeCapability);
      requireSupported([cap], 'volume_capability');
      const staged = await readStaged(req.volumeId);
      if (staged === null) throw new CsiStatus(Code.failedPrecondition, `volume ${req.volumeId} is not staged on this node`);
      if (await isMountPoint(req.targetPath)) return {};
      const options = mountOptions([], req.readonly);
      if (staged.block) {
        await mkdir(dirname(req.targetPath), { recursive: true });
        await writeFile(req.targetPath, '', { flag: 'a' });
        await runCommand(['mount', '--bind', staged.device, req.targetPath]);
      } else {
        await mkdir(req.targetPath, { recursive: true });
        await runCommand(['mount', '--bind', req.stagingTargetPath, req.targetPath]);
      }
      if (options.length > 0) await runCommand(['mount', '-o', `remount,bind,${options.join(',')}`, req.targetPath]);
      return {};
    },

    nodeUnpublishVolume: async (req: csipb.NodeUnpublishVolumeRequest): Promise<csipb.INodeUnpublishVolumeResponse> => {
      if (req.volumeId === '') throw invalid('volume_id is required');
      if (req.targetPath === '') throw invalid('target_path is required');
      if (await isMountPoint(req.targetPath)) await runCommand(['umount', req.targetPath]);
      await removeTarget(req.targetPath);
      return {};
    },

    nodeGetVolumeStats: async (req: csipb.NodeGetVolumeStatsRequest): Promise<csipb.INodeGetVolumeStatsResponse> => {
      if (req.volumeId === '') throw invalid('volume_id is required');
      if (req.volumePath === '') throw invalid('volume_path is required');
      const info = await stat(req.volumePath).catch(() => null);
      if (info === null) throw new CsiStatus(Code.notFound, `volume_path ${req.volumePath} does not exist`);
      if (!info.isDirectory()) {
        const volume = await opts.client.getVolume(req.volumeId);
        return { usage: [{ unit: 1, total: volume.sizeBytes }] };
      }
      const fs = await statfs(req.volumePath);
      return {
        usage: [
          { unit: 1 /* BYTES */, total: fs.blocks * fs.bsize, available: fs.bavail * fs.bsize, used: (fs.blocks - fs.bfree) * fs.bsize },
          { unit: 2 /* INODES */, total: fs.files, available: fs.ffree, used: fs.files - fs.ffree },
        ],
      };
    },

    nodeExpandVolume: async (req: csipb.NodeExpandVolumeRequest): Promise<csipb.INodeExpandVolumeResponse> => {
      if (req.volumeId === '') throw invalid('volume_id is required');
      if (req.volumePath === '') throw invalid('volume_path is required');
      const volume = await opts.client.getVolume(req.volumeId);
      const staged = await readStaged(req.volumeId);
      if (staged === null) throw new CsiStatus(Code.notFound, `volume ${req.volumeId} is not staged on this node`);
      const required = rangeFromPb(req.capacityRange)?.requiredBytes ?? 0;
      const capacityBytes = expansionCapacity(req.volumeId, await deviceSizeBytes(staged.device), volume.sizeBytes, required);
      if (!staged.block) await runCommand(growCommand(staged.fsType, staged.device, req.volumePath));
      return { capacityBytes };
    },
  };
}

/**
 * Removes an unmounted publish target: the empty directory (filesystem) or the file (raw block)
 * the bind mount sat on. Never recursive: a target still holding files is left as it is.
 */
async function removeTarget(path: string): Promise<void> {
  const info = await stat(path).catch(() => null);
  if (info === null) return;
  await (info.isDirectory() ? rmdir(path) : unlink(path)).catch(() => undefined);
}
