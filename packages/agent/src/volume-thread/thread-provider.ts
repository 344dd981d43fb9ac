import { AssertionError, BasaltError, ErrorCode, limits } from '@basalt/stdx';
import type { FramePool } from '@basalt/wire';
import type { BlockDevice, Extent, OpenOptions, VolumeInfo, VolumeProvider } from '../block-device.js';
import { fromPayload, fromWireError, toPayload, type DeviceCall, type FromThread, type ReplyValue, type ToThread } from './messages.js';
import { MessageBatch, receiveBatches } from './message-batch.js';
import type { ThreadPort } from './serve-volumes.js';

type Waiter = { resolve: (value: ReplyValue) => void; reject: (err: Error) => void };

/**
 * The main thread's side of the volume thread: a VolumeProvider whose devices forward every call
 * to serveVolumes over `port` and wait for its reply. The NBD connections, the device pool and the
 * write-back cache stay on the main thread above these devices; one device per open volume lives
 * in the volume thread, so multi-conn still shares one writer and a flush on any connection is
 * one flush of that device (it runs after every write the agent has seen acknowledged, since
 * those replies came back before it was sent).
 *
 * Payloads move without copies when they are pooled: WRITE payloads are assembled in `pool`'s
 * buffers and come back to it with the write's reply; read buffers of the thread's pool go back
 * to it when the agent recycles them. Once `fail` was called (the thread is gone) every waiting
 * and later call fails with BASALT_IO saying so.
 */
export class ThreadVolumeProvider implements VolumeProvider {
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  private failure: BasaltError | undefined;
  private readonly out: MessageBatch<ToThread>;

  constructor(
    port: ThreadPort,
    private readonly pool: FramePool,
    /** What the thread sends besides replies (events, log lines). */
    onOther: (m: Exclude<FromThread, { t: 'reply' }>) => void = () => {},
  ) {
    this.out = new MessageBatch<ToThread>(port);
    receiveBatches<FromThread>(port, (m) => (m.t === 'reply' ? this.receive(m) : onOther(m)));
  }

  async list(): Promise<VolumeInfo[]> {
    const value = await this.request((id) => ({ t: 'list', id }));
    return value.kind === 'volumes' ? value.volumes : unexpected(value);
  }

  async open(name: string, options: OpenOptions): Promise<BlockDevice> {
    const value = await this.request((id) => ({ t: 'open', id, name, options }));
    return value.kind === 'opened' ? new ThreadBlockDevice(this, value.device, value.sizeBytes, this.pool) : unexpected(value);
  }

  /** The volume thread is gone: fails every call waiting for it and every later one. */
  fail(reason: string): void {
    if (this.failure !== undefined) return;
    this.failure = new BasaltError(ErrorCode.Io, `the agent's volume thread stopped (${reason}); restart the agent`);
    for (const w of this.waiting.values()) w.reject(this.failure);
    this.waiting.clear();
  }

  call(device: number, call: DeviceCall, transfer: ArrayBuffer[] = []): Promise<ReplyValue> {
    return this.request((id) => ({ t: 'call', id, device, call }), transfer);
  }

  give(buffers: ArrayBuffer[]): void {
    if (this.failure === undefined) this.out.push({ t: 'give', buffers }, buffers);
  }

  /** The thread's metrics in the Prometheus text format (empty once the thread is gone). */
  async metrics(): Promise<string> {
    if (this.failure !== undefined) return '';
    const value = await this.request((id) => ({ t: 'metrics', id }));
    return value.kind === 'metrics' ? value.text : unexpected(value);
  }

  /** Makes the thread reread its TLS files. */
  reload(): void {
    if (this.failure === undefined) this.out.push({ t: 'reload' });
  }

  private request(message: (id: number) => ToThread, transfer: ArrayBuffer[] = []): Promise<ReplyValue> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<ReplyValue>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.out.push(message(id), transfer);
    });
  }

  private receive(m: Extract<FromThread, { t: 'reply' }>): void {
    const w = this.waiting.get(m.id);
    if (w === undefined) return;
    this.waiting.delete(m.id);
    if (!m.ok) return w.reject(fromWireError(m.error));
    if (m.returned !== undefined) this.pool.adopt(m.returned);
    w.resolve(m.value);
  }
}

/** A reply of another kind than its request's: serveVolumes answers each call with its own kind, so this is a bug. */
function unexpected(value: ReplyValue): never {
  throw new AssertionError(`the volume thread answered with ${value.kind}`);
}

/** Payloads at least this large are assembled in pooled buffers, which move to the volume thread; smaller ones are copied (cheaper than a pooled buffer of 64 KiB). */
const pooledWriteBytesMin = limits.chunkPooledReadBytesMin;

class ThreadBlockDevice implements BlockDevice {
  /** Read buffers that came from the volume thread's pool, to hand back to it. */
  private readonly fromThread = new WeakSet<ArrayBuffer>();

  constructor(
    private readonly thread: ThreadVolumeProvider,
    private readonly id: number,
    public sizeBytes: number,
    private readonly pool: FramePool,
  ) {}

  async refreshSize(): Promise<number> {
    const value = await this.thread.call(this.id, { op: 'refreshSize' });
    if (value.kind !== 'size') return unexpected(value);
    this.sizeBytes = value.sizeBytes;
    return value.sizeBytes;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const value = await this.thread.call(this.id, { op: 'read', offset, length });
    if (value.kind !== 'data') return unexpected(value);
    if (value.data.pooled) this.fromThread.add(value.data.buffer);
    return fromPayload(value.data);
  }

  recycle(data: Buffer): void {
    const ab = data.buffer as ArrayBuffer;
    if (!this.fromThread.has(ab)) return;
    this.fromThread.delete(ab);
    this.thread.give([ab]);
  }

  writeBuffer(length: number): Buffer {
    return (length >= pooledWriteBytesMin ? this.pool.take(length) : undefined) ?? Buffer.allocUnsafe(length);
  }

  async write(offset: number, data: Buffer, options: { fua: boolean }): Promise<void> {
    const transfer: ArrayBuffer[] = [];
    const payload = toPayload(data, this.pool, transfer);
    await this.thread.call(this.id, { op: 'write', offset, data: payload, fua: options.fua }, transfer);
  }

  async flush(): Promise<void> {
    await this.thread.call(this.id, { op: 'flush' });
  }

  async trim(offset: number, length: number): Promise<void> {
    await this.thread.call(this.id, { op: 'trim', offset, length });
  }

  async writeZeroes(offset: number, length: number, options: { noHole: boolean; fastOnly: boolean }): Promise<void> {
    await this.thread.call(this.id, { op: 'writeZeroes', offset, length, noHole: options.noHole, fastOnly: options.fastOnly });
  }

  async allocation(offset: number, length: number, options: { coarse?: boolean } = {}): Promise<Extent[]> {
    const value = await this.thread.call(this.id, { op: 'allocation', offset, length, coarse: options.coarse === true });
    return value.kind === 'extents' ? value.extents : unexpected(value);
  }

  async close(): Promise<void> {
    await this.thread.call(this.id, { op: 'close' });
  }
}
