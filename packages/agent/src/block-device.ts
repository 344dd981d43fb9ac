/**
 * The seam between the NBD agent and whatever stores volumes. The agent only ever calls
 * these methods; the client SDK (@basalt/client) implements them with a replicated volume,
 * tests with a sparse file.
 *
 * Contract for every method that takes a range: the agent has already checked
 * 0 <= offset, offset + length <= size and length <= limits.nbdRequestBytesMax, so an
 * implementation may assert those. Failures are BasaltErrors with a stable code, which the
 * agent turns into NBD errors:
 *   OutOfRange, InvalidArgument -> EINVAL; NoSpace -> ENOSPC; ReadOnly, LeaseFenced,
 *   LeaseConflict -> EPERM; NotSupported -> ENOTSUP; Closed -> ESHUTDOWN; anything else -> EIO.
 *
 * Concurrency: the agent issues many operations at once (from several connections) on one
 * BlockDevice; overlapping writes may run in any order, as on a disk. One BlockDevice is
 * shared by every connection to a volume (multi-conn), so `flush()` must make durable every
 * write any caller has seen acknowledged, not only its own.
 */
import type { Extent } from './protocol/index.js';

export type { Extent };

export type VolumeInfo = { name: string; sizeBytes: number };

export type OpenOptions = {
  /** Open without the writer lease; writes fail with ReadOnly. Many read-only opens may coexist. */
  readOnly: boolean;
  /** Take the writer lease even if another writer holds it (that writer is fenced). */
  forceTakeover: boolean;
};

export interface VolumeProvider {
  /** The volumes that may be exported, by name (each is one NBD export). */
  list(): Promise<VolumeInfo[]>;
  /**
   * Opens a volume. Throws VolumeNotFound, or LeaseConflict when another writer holds the
   * lease and `forceTakeover` is false.
   */
  open(name: string, options: OpenOptions): Promise<BlockDevice>;
}

export interface BlockDevice {
  /**
   * Size in bytes as last known. It may grow while the device is open (the volume was resized);
   * each NBD connection keeps the size it was opened with, as the protocol requires.
   */
  readonly sizeBytes: number;
  /**
   * Reads the size again from where the volume lives (absent: the size never changes). The agent
   * calls it before it tells a new connection the size, so new connections see a grown volume.
   */
  refreshSize?(): Promise<number>;
  /** Reads `length` bytes at `offset`; holes read as zeroes. */
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Hands back a buffer read() returned, once nothing reads it any more (the agent calls it when
   * the reply carrying it has been written to the socket), so a later read can reuse its memory.
   * Absent: read buffers are ordinary garbage.
   */
  recycle?(data: Buffer): void;
  /**
   * Memory for the payload of a write() to come, `length` bytes. The device takes it back for
   * reuse itself once a write() given it has succeeded (nothing may read or change the buffer
   * after it was passed to write()); one never written, or whose write failed, is ordinary
   * garbage. Absent: the agent assembles payloads in fresh buffers.
   */
  writeBuffer?(length: number): Buffer;
  /** Writes `data` at `offset`. With `fua` it is durable (as after flush) before it resolves. */
  write(offset: number, data: Buffer, options: { fua: boolean }): Promise<void>;
  /** Makes every write acknowledged so far durable, on every replica. */
  flush(): Promise<void>;
  /** Discards a range: afterwards it may read as anything until written; reported as a hole when it is one. */
  trim(offset: number, length: number): Promise<void>;
  /**
   * Makes a range read as zeroes. Without `noHole` it may deallocate (punch a hole); with
   * `noHole` the range stays allocated. With `fastOnly` it fails with NotSupported unless it
   * can zero faster than writing zeroes (NBD FAST_ZERO).
   */
  writeZeroes(offset: number, length: number, options: { noHole: boolean; fastOnly: boolean }): Promise<void>;
  /**
   * Allocation of [offset, offset + length): consecutive extents starting at `offset`, each
   * data or hole (a hole reads as zeroes). They cover at least one byte and may stop early or
   * run past the end of the range (the agent cuts them). `coarse` allows a cheaper, coarser answer
   * (per extent rather than per block: what a hole-aware read needs); NBD_CMD_BLOCK_STATUS asks
   * for the precise one.
   */
  allocation(offset: number, length: number, options?: { coarse?: boolean }): Promise<Extent[]>;
  /** Releases the device (and its lease). No call follows. */
  close(): Promise<void>;
}
