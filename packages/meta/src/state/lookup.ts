import { ErrorCode } from '@basalt/stdx';
import type { ServerRecord, StateData, VolumeRecord } from './records.js';
import { fail, ok, type Result } from './result.js';

/** Finding records by name, with the typed refusal a caller gets when there is none. */

export function findVolume(data: StateData, name: string): Result<VolumeRecord> {
  const volume = data.volumes.get(name);
  return volume === undefined ? fail(ErrorCode.VolumeNotFound, `no volume named ${JSON.stringify(name)}`, { volume: name }) : ok(volume);
}

export function findServer(data: StateData, serverId: string): Result<ServerRecord> {
  const server = data.servers.get(serverId);
  return server === undefined ? fail(ErrorCode.ServerNotFound, `no chunk server with id ${JSON.stringify(serverId)}`, { serverId }) : ok(server);
}

/** The volume, refusing an unknown name or an extent index past its end. */
export function findVolumeExtent(data: StateData, name: string, index: number): Result<VolumeRecord> {
  const found = findVolume(data, name);
  if (!found.ok) return found;
  const extentCount = found.value.sizeBytes / found.value.extentSizeBytes;
  if (index < extentCount) return found;
  return fail(ErrorCode.OutOfRange, `extent ${index} is past the end of volume ${name} (${extentCount} extents)`, { volume: name, index, extentCount });
}
