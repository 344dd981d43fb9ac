import { assert } from '@basalt/stdx';
import type { BlockDevice, OpenOptions, VolumeProvider } from '../block-device.js';

/**
 * One open BlockDevice per volume, shared by every connection to it. Sharing is what makes
 * multi-conn safe (a flush on any connection flushes the one device every connection writes
 * through) and lets one client open several connections under a single writer lease.
 * Invariant: a device is in `open` while `users > 0` or its open is in progress; it is closed
 * exactly once, when the last user releases it.
 */
type Entry = { device: Promise<BlockDevice>; users: number };

export class DevicePool {
  private readonly open = new Map<string, Entry>();

  constructor(
    private readonly provider: VolumeProvider,
    private readonly options: OpenOptions,
  ) {}

  /** Opens (or shares) the volume's device; pair every successful call with `release`. */
  async acquire(volume: string): Promise<BlockDevice> {
    let entry = this.open.get(volume);
    if (entry === undefined) {
      entry = { device: this.provider.open(volume, this.options), users: 0 };
      this.open.set(volume, entry);
    }
    entry.users++;
    try {
      return await entry.device;
    } catch (err) {
      this.drop(volume, entry);
      throw err;
    }
  }

  async release(volume: string): Promise<void> {
    const entry = this.open.get(volume);
    assert(entry !== undefined && entry.users > 0, `release of ${volume} without acquire`);
    if (--entry.users > 0) return;
    this.open.delete(volume);
    const device = await entry.device;
    await device.close();
  }

  private drop(volume: string, entry: Entry): void {
    entry.users--;
    if (entry.users === 0 && this.open.get(volume) === entry) this.open.delete(volume);
  }
}
