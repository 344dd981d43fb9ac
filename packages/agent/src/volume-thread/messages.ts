import { BasaltError, ErrorCode, errorFromWire } from '@basalt/stdx';
import type { VolumeEvent } from '@basalt/client';
import type { FramePool } from '@basalt/wire';
import type { Extent, OpenOptions, VolumeInfo } from '../block-device.js';

/**
 * The messages between the agent's main thread (NBD sockets, ThreadVolumeProvider) and its volume
 * thread (the SDK, serveVolumes). Every request carries an id its reply repeats. Payloads cross as
 * transferred ArrayBuffers: a pooled buffer moves (no copy) and comes back to the pool of the
 * thread that made it (`give`, or a write's reply); anything else is copied once into a buffer of
 * its own, which then moves.
 */
export type DeviceCall =
  | { op: 'read'; offset: number; length: number }
  | { op: 'write'; offset: number; data: Payload; fua: boolean }
  | { op: 'flush' }
  | { op: 'trim'; offset: number; length: number }
  | { op: 'writeZeroes'; offset: number; length: number; noHole: boolean; fastOnly: boolean }
  | { op: 'allocation'; offset: number; length: number; coarse: boolean }
  | { op: 'refreshSize' }
  | { op: 'close' };

export type ToThread =
  | { t: 'list'; id: number }
  | { t: 'open'; id: number; name: string; options: OpenOptions }
  | { t: 'call'; id: number; device: number; call: DeviceCall }
  /** Read buffers of the thread's pool, handed back once their replies were sent. */
  | { t: 'give'; buffers: ArrayBuffer[] }
  /** Reread the TLS files (the agent got SIGHUP). */
  | { t: 'reload' }
  /** The thread's metrics (the SDK's basalt_client_*), for a scrape of the agent's /metrics. */
  | { t: 'metrics'; id: number };

export type ReplyValue =
  | { kind: 'none' }
  | { kind: 'volumes'; volumes: VolumeInfo[] }
  | { kind: 'opened'; device: number; sizeBytes: number }
  | { kind: 'data'; data: Payload }
  | { kind: 'extents'; extents: Extent[] }
  | { kind: 'size'; sizeBytes: number }
  /** Metrics in the Prometheus text format. */
  | { kind: 'metrics'; text: string };

export type WireError = { code: string; message: string; details: Record<string, unknown> };

export type FromThread =
  /** `returned`: a write's payload that came from the main thread's pool, back to it once stored. */
  | { t: 'reply'; id: number; ok: true; value: ReplyValue; returned?: ArrayBuffer }
  | { t: 'reply'; id: number; ok: false; error: WireError }
  /** What the SDK reports of a volume (failovers, holder requests), for the agent's log. */
  | { t: 'event'; event: VolumeEvent }
  | { t: 'log'; line: string };

/**
 * Bytes in a transferred ArrayBuffer: [offset, offset + length) of `buffer`. `pooled`: the buffer
 * came from the sending thread's FramePool and goes back to it once the receiver is done.
 */
export type Payload = { buffer: ArrayBuffer; offset: number; length: number; pooled: boolean };

/** Packs `data` for another thread, adding what moves to `transfer`: its buffer when `pool` made it (the caller gives it up), else a copy. */
export function toPayload(data: Buffer, pool: FramePool | undefined, transfer: ArrayBuffer[]): Payload {
  if (pool !== undefined && pool.owns(data)) {
    const buffer = data.buffer as ArrayBuffer;
    transfer.push(buffer);
    return { buffer, offset: data.byteOffset, length: data.byteLength, pooled: true };
  }
  const copy = new Uint8Array(data.byteLength);
  copy.set(data);
  transfer.push(copy.buffer);
  return { buffer: copy.buffer, offset: 0, length: copy.byteLength, pooled: false };
}

export function fromPayload(payload: Payload): Buffer {
  return Buffer.from(payload.buffer, payload.offset, payload.length);
}

/** An error as it crosses: a BasaltError keeps its code, message and details; anything else becomes BASALT_IO. */
export function toWireError(err: unknown): WireError {
  if (err instanceof BasaltError) return { code: err.code, message: err.message, details: cloneable(err.details) };
  return { code: ErrorCode.Io, message: err instanceof Error ? err.message : String(err), details: {} };
}

export function fromWireError(error: WireError): BasaltError {
  return errorFromWire(error.code, error.message, error.details);
}

/** Details that survive structured clone (plain data), or none when some value would not. */
function cloneable(details: Readonly<Record<string, unknown>>): Record<string, unknown> {
  try {
    return structuredClone(details);
  } catch {
    return {};
  }
}
