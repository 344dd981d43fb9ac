import type { FramePool } from '@basalt/wire';
import type { BlockDevice, VolumeProvider } from '../block-device.js';
import { receiveBatches, type MessageBatch } from './message-batch.js';
import { fromPayload, toPayload, toWireError, type DeviceCall, type FromThread, type ReplyValue, type ToThread } from './messages.js';

/** The end of a MessageChannel or a worker's parentPort. */
export interface ThreadPort {
  postMessage(message: unknown, transfer?: readonly ArrayBuffer[]): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
}

/**
 * The volume thread's side of ThreadVolumeProvider: runs the requests that come over `port` on
 * `provider`'s devices and answers each. Devices are the provider's own (the SDK's volumes, with
 * their leases, holder requests, background flatten and failovers, all in this thread); the main
 * thread names them by number. Read data from `pool` moves to the main thread and comes back with
 * `give`; a write's payload from the main thread's pool goes back with its reply once stored.
 * Replies go out in `out`, which the thread's other messages (events, logs) share. `metrics` gives
 * the thread's metrics when the agent is scraped.
 */
export function serveVolumes(port: ThreadPort, out: MessageBatch<FromThread>, provider: VolumeProvider, pool: FramePool | undefined, onReload: () => void = () => {}, metrics: () => Promise<string> = () => Promise.resolve('')): void {
  const devices = new Map<number, BlockDevice>();
  let nextDevice = 1;
  const reply = (id: number, work: Promise<{ value: ReplyValue; transfer: ArrayBuffer[]; returned?: ArrayBuffer }>): void => {
    work.then(
      ({ value, transfer, returned }) => out.push({ t: 'reply', id, ok: true, value, ...(returned !== undefined && { returned }) }, transfer),
      (err: unknown) => out.push({ t: 'reply', id, ok: false, error: toWireError(err) }),
    );
  };
  receiveBatches<ToThread>(port, (m) => {
    switch (m.t) {
      case 'list':
        return reply(m.id, provider.list().then((volumes) => ({ value: { kind: 'volumes', volumes }, transfer: [] })));
      case 'open':
        return reply(m.id, provider.open(m.name, m.options).then((device) => {
          const n = nextDevice++;
          devices.set(n, device);
          return { value: { kind: 'opened', device: n, sizeBytes: device.sizeBytes }, transfer: [] };
        }));
      case 'call': {
        const device = devices.get(m.device);
        if (device === undefined) return reply(m.id, Promise.reject(new Error(`no device ${m.device} in the volume thread`)));
        if (m.call.op === 'close') devices.delete(m.device);
        return reply(m.id, run(device, m.call, pool));
      }
      case 'give':
        if (pool !== undefined) for (const b of m.buffers) pool.adopt(b);
        return undefined;
      case 'reload':
        return onReload();
      case 'metrics':
        return reply(m.id, metrics().then((text) => ({ value: { kind: 'metrics', text }, transfer: [] })));
    }
  });
}

async function run(device: BlockDevice, call: DeviceCall, pool: FramePool | undefined): Promise<{ value: ReplyValue; transfer: ArrayBuffer[]; returned?: ArrayBuffer }> {
  const none = { value: { kind: 'none' } as const, transfer: [] };
  switch (call.op) {
    case 'read': {
      const transfer: ArrayBuffer[] = [];
      const read = await device.read(call.offset, call.length);
      const data = toPayload(read, pool, transfer);
      // A copy went: the device may have its buffer back now. A pooled one comes back with `give`.
      if (!data.pooled) device.recycle?.(read);
      return { value: { kind: 'data', data }, transfer };
    }
    case 'write': {
      await device.write(call.offset, fromPayload(call.data), { fua: call.fua });
      // Stored on every replica: the device reads the payload no more (BlockDevice.write).
      return call.data.pooled ? { ...none, transfer: [call.data.buffer], returned: call.data.buffer } : none;
    }
    case 'flush':
      await device.flush();
      return none;
    case 'trim':
      await device.trim(call.offset, call.length);
      return none;
    case 'writeZeroes':
      await device.writeZeroes(call.offset, call.length, { noHole: call.noHole, fastOnly: call.fastOnly });
      return none;
    case 'allocation':
      return { value: { kind: 'extents', extents: await device.allocation(call.offset, call.length, { coarse: call.coarse }) }, transfer: [] };
    case 'refreshSize':
      return { value: { kind: 'size', sizeBytes: device.refreshSize !== undefined ? await device.refreshSize() : device.sizeBytes }, transfer: [] };
    case 'close':
      await device.close();
      return none;
  }
}
