import { assert } from '@basalt/stdx';
import type { BlockDevice, OpenOptions, VolumeProvider } from '../block-device.js';
import { WriteBackDevice, type WriteCacheBudget, type WriteCacheMode } from '../write-cache.js';

/**
 * One open BlockDevice per volume, shared by every connection to it. Sharing is what makes
 * multi-conn safe (a flush on any connection flushes the one device every connection writes
 * through) and lets one client open several connections under a single writer lease.
 * Invariants: a device is in `open` while `users > 0` or its open is in progress; it is closed
 * exactly once, when the last user releases it; a volume is not opened again until its previous
 * device has finished closing (so a quick re-attach does not collide with its own old lease).
 * Writable devices are wrapped in the write-back cache (write-cache.ts) unless it is off.
 */
type Entry = { device: Promise<BlockDevice>; users: number };

export type WriteCacheConfig = {
  mode: WriteCacheMode;
  budget: WriteCacheBudget;
  onFailure: (volume: string, err: Error) => void;
};

export class DevicePool {
  private readonly open = new Map<string, Entry>();
  private readonly closing = new Map<string, Promise<void>>();

  constructor(
    private readonly provider: VolumeProvider,
    private readonly options: OpenOptions,
    private readonly cache: WriteCacheConfig,
  ) {}

  /** Opens (or shares) the volume's device; pair every successful call with `release`. */
  async acquire(volume: string): Promise<BlockDevice> {
    let entry = this.open.get(volume);
    if (entry === undefined) {
      const previous = this.closing.get(volume) ?? Promise.resolve();
      entry = { device: previous.then(() => this.provider.open(volume, this.options)).then((d) => this.wrap(volume, d)), users: 0 };
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
    const closed = entry.device.then((d) => d.close());
    const settled = closed.catch(() => undefined).finally(() => {
      if (this.closing.get(volume) === settled) this.closing.delete(volume);
    });
    this.closing.set(volume, settled);
    await closed;
  }

  private wrap(volume: string, device: BlockDevice): BlockDevice {
    if (this.options.readOnly || this.cache.mode === 'writethrough') return device;
    return new WriteBackDevice(device, this.cache.mode, this.cache.budget, (err) => this.cache.onFailure(volume, err));
  }

  private drop(volume: string, entry: Entry): void {
    entry.users--;
    if (entry.users === 0 && this.open.get(volume) === entry) this.open.delete(volume);
  }
}
