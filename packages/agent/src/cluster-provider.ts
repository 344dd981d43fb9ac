import type { BasaltClient, Volume } from '@basalt/client';
import type { FramePool } from '@basalt/wire';
import type { BlockDevice, Extent, OpenOptions, VolumeInfo, VolumeProvider } from './block-device.js';

/**
 * The volumes of a Basalt cluster, through the client SDK: each NBD export is one volume,
 * opened with the writer lease unless read-only (a forced takeover fences the old writer).
 */
export class ClusterVolumeProvider implements VolumeProvider {
  constructor(
    private readonly client: BasaltClient,
    /** The pool the client was connected with (ConnectOptions.framePool), if any: read buffers go back to it. */
    private readonly framePool?: FramePool,
  ) {}

  async list(): Promise<VolumeInfo[]> {
    return (await this.client.listVolumes()).map((v) => ({ name: v.name, sizeBytes: v.sizeBytes }));
  }

  async open(name: string, options: OpenOptions): Promise<BlockDevice> {
    // A writer allocates ahead of sequential writes (a guest's prefill, a copy; docs/data-path.md, "The first write of an extent").
    const volume = await this.client.openVolume(name, { writer: !options.readOnly, force: !options.readOnly && options.forceTakeover, allocateAhead: !options.readOnly });
    return new VolumeBlockDevice(volume, this.framePool);
  }
}

/** A BlockDevice over an SDK Volume; the SDK does the splitting, routing and retries. */
class VolumeBlockDevice implements BlockDevice {
  readonly recycle?: (data: Buffer) => void;
  /** Write payloads come from the pool too and go back to it once stored (a buffer not from it is ignored). */
  readonly writeBuffer?: (length: number) => Buffer;

  constructor(
    private readonly volume: Volume,
    private readonly framePool: FramePool | undefined,
  ) {
    if (framePool !== undefined) {
      this.recycle = (data) => framePool.give(data);
      this.writeBuffer = (length) => framePool.take(length) ?? Buffer.allocUnsafe(length);
    }
  }

  get sizeBytes(): number {
    return this.volume.size;
  }

  refreshSize(): Promise<number> {
    return this.volume.refreshSize();
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.volume.read(offset, length);
  }

  /** Once the write succeeded, every replica has the bytes: the SDK reads `data` no more, so it goes back to the pool. */
  async write(offset: number, data: Buffer, options: { fua: boolean }): Promise<void> {
    await this.volume.write(offset, data, { fua: options.fua });
    this.framePool?.give(data);
  }

  flush(): Promise<void> {
    return this.volume.flush();
  }

  trim(offset: number, length: number): Promise<void> {
    return this.volume.trim(offset, length);
  }

  /** Chunk servers zero by punching holes, which is always fast, so `fastOnly` never refuses. */
  writeZeroes(offset: number, length: number, options: { noHole: boolean; fastOnly: boolean }): Promise<void> {
    return this.volume.writeZeroes(offset, length, { allocate: options.noHole });
  }

  async allocation(offset: number, length: number, options: { coarse?: boolean } = {}): Promise<Extent[]> {
    return (await this.volume.allocation(offset, length, { blocks: options.coarse !== true })).map((run) => ({ lengthBytes: run.length, hole: run.hole }));
  }

  close(): Promise<void> {
    return this.volume.close();
  }
}
