import { MessageChannel, Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode, MiB } from '@basalt/stdx';
import { FramePool } from '@basalt/wire';
import type { BlockDevice, Extent, VolumeInfo, VolumeProvider } from '../block-device.js';
import { MessageBatch } from './message-batch.js';
import type { FromThread } from './messages.js';
import { serveVolumes } from './serve-volumes.js';
import { attachVolumeThread } from './start-volume-thread.js';
import { ThreadVolumeProvider } from './thread-provider.js';

/**
 * A device whose writes complete when the test says so, and whose flush makes durable exactly
 * the writes completed before it (the BlockDevice contract), so a proxy that acknowledged a write
 * before the device did would let a later flush miss it.
 */
class GatedDevice implements BlockDevice {
  sizeBytes = 8 * MiB;
  readonly completed = new Map<number, Buffer>();
  readonly durable = new Map<number, Buffer>();
  readonly gates: (() => void)[] = [];
  fail: BasaltError | Error | undefined;

  read(_offset: number, length: number): Promise<Buffer> {
    return this.fail !== undefined ? Promise.reject(this.fail) : Promise.resolve(Buffer.alloc(length, 7));
  }

  write(offset: number, data: Buffer): Promise<void> {
    if (this.fail !== undefined) return Promise.reject(this.fail);
    const copy = Buffer.from(data);
    return new Promise((resolve) => this.gates.push(() => {
      this.completed.set(offset, copy);
      resolve();
    }));
  }

  flush(): Promise<void> {
    for (const [k, v] of this.completed) this.durable.set(k, v);
    return Promise.resolve();
  }

  trim(): Promise<void> {
    return Promise.resolve();
  }

  writeZeroes(): Promise<void> {
    return Promise.resolve();
  }

  allocation(_offset: number, length: number): Promise<Extent[]> {
    return Promise.resolve([{ lengthBytes: length, hole: false }]);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

class OneVolume implements VolumeProvider {
  constructor(readonly device: GatedDevice) {}

  list(): Promise<VolumeInfo[]> {
    return Promise.resolve([{ name: 'v', sizeBytes: this.device.sizeBytes }]);
  }

  open(name: string): Promise<BlockDevice> {
    if (name !== 'v') return Promise.reject(new BasaltError(ErrorCode.VolumeNotFound, `volume ${name} not found`, { volume: name }));
    return Promise.resolve(this.device);
  }
}

const channels: MessageChannel[] = [];
afterEach(() => {
  for (const c of channels.splice(0)) c.port1.close();
});

/** The two sides of the seam over a MessageChannel (the volume thread's side in this thread). */
function overChannel(device: GatedDevice, threadPool?: FramePool, metrics?: () => Promise<string>): { provider: ThreadVolumeProvider; mainPool: FramePool } {
  const channel = new MessageChannel();
  channels.push(channel);
  serveVolumes(channel.port2, new MessageBatch<FromThread>(channel.port2), new OneVolume(device), threadPool, undefined, metrics);
  const mainPool = new FramePool(16 * MiB);
  return { provider: new ThreadVolumeProvider(channel.port1, mainPool), mainPool };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setImmediate(r));
}

describe('the volume thread seam', () => {
  it('keeps a BasaltError\'s code, message and details across the thread boundary', async () => {
    const device = new GatedDevice();
    const { provider } = overChannel(device);
    const missing = await provider.open('nope', { readOnly: false, forceTakeover: false }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(BasaltError);
    expect((missing as BasaltError).code).toBe(ErrorCode.VolumeNotFound);
    expect((missing as BasaltError).details).toEqual({ volume: 'nope' });
    const opened = await provider.open('v', { readOnly: false, forceTakeover: false });
    device.fail = new BasaltError(ErrorCode.LeaseFenced, 'another writer took the lease', { volume: 'v', epoch: 4 });
    const fenced = await opened.write(0, Buffer.alloc(4096), { fua: false }).catch((e: unknown) => e);
    expect((fenced as BasaltError).code).toBe(ErrorCode.LeaseFenced);
    expect((fenced as BasaltError).message).toBe('another writer took the lease');
    expect((fenced as BasaltError).details).toEqual({ volume: 'v', epoch: 4 });
    device.fail = new Error('a bug in the device');
    const other = await opened.read(0, 4096).catch((e: unknown) => e);
    expect((other as BasaltError).code).toBe(ErrorCode.Io);
    expect((other as BasaltError).message).toBe('a bug in the device');
  });

  it('a flush after acknowledged writes makes every one of them durable, across the thread boundary', async () => {
    const device = new GatedDevice();
    const { provider } = overChannel(device);
    const opened = await provider.open('v', { readOnly: false, forceTakeover: false });
    const acked: number[] = [];
    const writes = [0, 1, 2, 3].map((i) => opened.write(i * 4096, Buffer.alloc(4096, i + 1), { fua: false }).then(() => acked.push(i)));
    await until(() => device.gates.length === 4);
    device.gates[1]!();
    device.gates[3]!();
    await until(() => acked.length >= 2);
    expect(acked.sort()).toEqual([1, 3]);
    await opened.flush();
    for (const i of acked) expect(device.durable.get(i * 4096)).toEqual(Buffer.alloc(4096, i + 1));
    device.gates[0]!();
    device.gates[2]!();
    await Promise.all(writes);
    await opened.flush();
    expect([...device.durable.keys()].sort((a, b) => a - b)).toEqual([0, 4096, 8192, 12288]);
  });

  it('moves pooled payloads between the threads\' pools without copies', async () => {
    const device = new GatedDevice();
    const threadPool = new FramePool(16 * MiB);
    const { provider, mainPool } = overChannel(device, threadPool);
    const opened = await provider.open('v', { readOnly: false, forceTakeover: false });
    const payload = opened.writeBuffer!(MiB);
    expect(mainPool.owns(payload)).toBe(true);
    payload.fill(9);
    const written = opened.write(0, payload, { fua: false });
    await until(() => device.gates.length === 1);
    expect(payload.byteLength).toBe(0); // moved to the volume thread, not copied
    device.gates[0]!();
    await written;
    expect(device.completed.get(0)).toEqual(Buffer.alloc(MiB, 9));
    expect(mainPool.owns(mainPool.take(MiB)!)).toBe(true);

    const frame = threadPool.take(MiB)!;
    device.read = () => Promise.resolve(frame.fill(5));
    const data = await opened.read(0, MiB);
    expect(frame.byteLength).toBe(0); // moved to the main thread
    expect(data).toEqual(Buffer.alloc(MiB, 5));
    opened.recycle!(data);
    await opened.flush(); // replies come in order: the buffer went back before this one
    expect(data.byteLength).toBe(0);
    expect(threadPool.take(MiB)![0]).toBe(5); // the same memory again, not a fresh (zeroed) buffer
  });

  it('hands the volume thread\'s metrics text to the main thread for the agent\'s /metrics', async () => {
    const text = '# TYPE basalt_client_ops_total counter\nbasalt_client_ops_total{volume="v",op="write"} 3\n';
    const { provider } = overChannel(new GatedDevice(), undefined, () => Promise.resolve(text));
    expect(await provider.metrics()).toBe(text);
  });

  it('a volume thread that dies fails its devices\' waiting and later requests with BASALT_IO saying so', { timeout: 30_000 }, async () => {
    // A stand-in volume thread: opens device 1, then exits with code 3 on the next request.
    const worker = new Worker(`
      const { parentPort } = require('node:worker_threads');
      parentPort.on('message', (batch) => {
        for (const m of batch) {
          if (m.t === 'open') parentPort.postMessage([{ t: 'reply', id: m.id, ok: true, value: { kind: 'opened', device: 1, sizeBytes: 1048576 } }]);
          else process.exit(3);
        }
      });`, { eval: true });
    const logged: string[] = [];
    const thread = attachVolumeThread(worker, new FramePool(MiB), { onEvent: () => {}, log: (l) => logged.push(l) });
    const opened = await thread.provider.open('v', { readOnly: false, forceTakeover: false });
    const waiting = await opened.read(0, 4096).catch((e: unknown) => e);
    expect((waiting as BasaltError).code).toBe(ErrorCode.Io);
    expect((waiting as BasaltError).message).toMatch(/volume thread stopped \(exited with code 3\)/);
    const later = await opened.flush().catch((e: unknown) => e);
    expect((later as BasaltError).code).toBe(ErrorCode.Io);
    await expect(thread.provider.list()).rejects.toThrow(/volume thread stopped/);
    expect(logged).toEqual([expect.stringMatching(/volume thread exited \(code 3\)/)]);
    // A scrape of the agent still answers, without the thread's metrics.
    expect(await thread.provider.metrics()).toBe('');
  });
});
