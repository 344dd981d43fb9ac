import { Code, CsiStatus } from './csi-status.js';

/**
 * What NodeExpandVolume can do for a staged volume, from the size of its attached device, the
 * volume's size in metad and the CO's required size (0: none given). An NBD device learns its
 * size when it connects (the protocol fixes it at the handshake; the agent refuses requests past
 * it), so a device attached before the volume grew keeps the old size until it is attached again:
 * NodeExpandVolume then fails with FAILED_PRECONDITION instead of "growing" the filesystem to the
 * size it already has, and succeeds after an unstage and a stage (Kubernetes retries it after the
 * next NodeStage). Returns the capacity to report once the filesystem is grown to the device.
 */
export function expansionCapacity(volumeId: string, deviceBytes: number, volumeBytes: number, requiredBytes: number): number {
  if (requiredBytes > volumeBytes) {
    throw new CsiStatus(Code.outOfRange, `volume ${volumeId} is ${volumeBytes} bytes, less than the ${requiredBytes} required: ControllerExpandVolume grows it first`);
  }
  if (deviceBytes < volumeBytes) {
    throw new CsiStatus(Code.failedPrecondition,
      `volume ${volumeId} is ${volumeBytes} bytes but its device was attached at ${deviceBytes}: an NBD device keeps its connect-time size, so unstage and stage it again to expand`);
  }
  return deviceBytes;
}
