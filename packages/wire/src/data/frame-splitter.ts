import { assert } from '@basalt/stdx';
import { framePrefixBytes } from './constants.js';
import type { FramePool } from './frame-pool.js';

/**
 * Cuts a byte stream into whole frames: magic (u32), body length (u32), body. Pure and
 * incremental; a frame is copied at most once. After an error the splitter stays broken:
 * the stream cannot be resynchronised, so the connection must close.
 *
 * Two ways in, not mixed on one stream: push() takes chunks the socket allocated ('data'
 * events); readTarget()/pushRead() let the socket read into memory the splitter chooses (the
 * `onread` option of net.connect and tls.connect), so that the body of a frame that spans reads
 * lands in place, in the frame's own buffer, and no chunk is allocated per read. Over TLS a read
 * is one record (at most 16 KiB of plaintext): a 1 MiB frame is 64 reads.
 */
export type SplitResult =
  | { readonly kind: 'frames'; readonly frames: Buffer[] }
  | { readonly kind: 'error'; readonly message: string; readonly frames: Buffer[] };

export class FrameSplitter {
  private chunks: Buffer[] = [];
  /** Bytes held in chunks. */
  private held = 0;
  /** Whole-frame size of the frame being assembled, once its prefix is known; else 0. */
  private need = 0;
  private broken: string | undefined;
  /**
   * pushRead(): the frame being read in place, `need` bytes, of which the first `held` arrived
   * (then `chunks` is empty); undefined while reads go to the caller's staging buffer.
   */
  private direct: Buffer | undefined;

  constructor(
    private readonly magic: number,
    private readonly bodyBytesMax: number,
    /** Where frames that span several chunks are assembled; default: fresh buffers. */
    private readonly pool?: FramePool,
  ) {
    assert(bodyBytesMax > 0, 'bodyBytesMax must be positive');
  }

  /** Bytes received but not yet returned as frames. */
  get pendingBytes(): number {
    return this.held;
  }

  push(chunk: Buffer): SplitResult {
    if (this.broken !== undefined) return { kind: 'error', message: this.broken, frames: [] };
    assert(this.direct === undefined, 'push() is not mixed with reads in place');
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.held += chunk.length;
    }
    const frames: Buffer[] = [];
    for (;;) {
      if (this.need === 0) {
        if (this.held < framePrefixBytes) break;
        const first = this.chunks[0]!;
        // The prefix is almost always inside the first chunk: read it there, without a view.
        const prefix = first.length >= framePrefixBytes ? first : this.peek(framePrefixBytes);
        if (prefix.readUInt32BE(0) !== this.magic) return this.breakWith(`bad magic 0x${prefix.readUInt32BE(0).toString(16)}`, frames);
        const body = prefix.readUInt32BE(4);
        if (body > this.bodyBytesMax) return this.breakWith(`frame body of ${body} bytes above the limit of ${this.bodyBytesMax}`, frames);
        this.need = framePrefixBytes + body;
      }
      if (this.held < this.need) break;
      frames.push(this.take(this.need));
      this.need = 0;
    }
    return { kind: 'frames', frames };
  }

  /**
   * Where the next read should put its bytes: the rest of the frame being assembled once its
   * length is known and it did not arrive whole (never beyond its end), else `staging`.
   */
  readTarget(staging: Buffer): Buffer {
    return this.direct === undefined ? staging : this.direct.subarray(this.held);
  }

  /**
   * `n` bytes were read into `target`, the buffer readTarget() returned. Bytes read into the
   * staging buffer are copied out (it is read into again); a frame read in place is returned as
   * is, once whole.
   */
  pushRead(target: Buffer, n: number): SplitResult {
    const direct = this.direct;
    if (direct === undefined) {
      const split = this.push(Buffer.from(target.subarray(0, n)));
      if (split.kind === 'frames' && this.need > 0) this.beginDirect();
      return split;
    }
    assert(target.buffer === direct.buffer && target.byteOffset === direct.byteOffset + this.held, 'pushRead takes the buffer readTarget returned');
    assert(n > 0 && this.held + n <= this.need, 'a read in place stays inside its frame');
    this.held += n;
    if (this.held < this.need) return { kind: 'frames', frames: [] };
    this.direct = undefined;
    this.held = 0;
    this.need = 0;
    return { kind: 'frames', frames: [direct] };
  }

  /** Moves the bytes held of the frame being assembled into its own buffer, which the next reads fill. */
  private beginDirect(): void {
    const frame = this.allocate(this.need);
    let pos = 0;
    for (const c of this.chunks) pos += c.copy(frame, pos);
    this.chunks = [];
    this.direct = frame;
  }

  private allocate(n: number): Buffer {
    return this.pool?.take(n) ?? Buffer.allocUnsafe(n);
  }

  private breakWith(message: string, frames: Buffer[]): SplitResult {
    this.broken = message;
    this.chunks = [];
    this.held = 0;
    return { kind: 'error', message, frames };
  }

  /** The first n held bytes, without consuming them, when they span chunks. */
  private peek(n: number): Buffer {
    return Buffer.concat(this.chunks, Math.min(this.held, Math.max(n, 64))).subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.held -= n;
      return out;
    }
    const out = this.allocate(n);
    let pos = 0;
    while (pos < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - pos);
      c.copy(out, pos, 0, k);
      pos += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.held -= n;
    return out;
  }
}
