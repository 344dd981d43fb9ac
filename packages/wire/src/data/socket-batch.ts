import type net from 'node:net';
import { TLSSocket } from 'node:tls';
import { limits } from '@basalt/stdx';

/** A message the socket has not been handed yet. */
interface Waiting {
  readonly parts: readonly Buffer[];
  readonly sent: (() => void) | undefined;
  readonly bytes: number;
}

/**
 * Sends the messages queued on a socket during one callback with one syscall: the first message
 * corks the socket and a process.nextTick uncorks it, which runs once the callback's synchronous
 * code and the promise jobs it started are done. So every message of that callback leaves in one
 * writev, at once; messages from different callbacks of one event-loop turn leave in separate
 * writes.
 *
 * Each message (a frame's header and payload parts) costs a syscall when written alone, and on
 * loopback TCP that syscall also does the receiver's work (and wakes it). Measured with chunkd
 * alone (bench/nbd/chunkd-load.ts, 3 replicas, random 4 KiB writes at queue depth 32), this
 * flush needed ~20 % less server CPU per write than the earlier one per event-loop turn (first
 * message at once, the rest of the turn at a setImmediate), which also cost an extra
 * non-blocking poll, an epoll_pwait, per turn.
 *
 * With `aheadBytesMax` (for TLS sockets), the socket holds at most that many unsent bytes (or one
 * message, when a message alone is larger): the rest wait here, as references, and go to the
 * socket as its writes complete. A TLS socket copies every writev it is handed into one
 * contiguous buffer and then encrypts all of it into a second one that lives until the kernel
 * took it (Node's TLSWrap), both outside V8's heap; without the bound, a socket that fell behind
 * handed everything queued behind one write (8-16 MiB under fio 1 MiB QD8) to a single writev.
 *
 * With `soloBytesMin` (for TLS sockets), a message whose last part is at least that large (a
 * WRITE's payload) has that part reach the socket's _write alone: TLSWrap encrypts a lone buffer
 * where it lies, but first copies a writev of several buffers into one (Node 20's
 * TLSWrap::DoWrite). Such a message is handed only to a socket that holds nothing; its other parts
 * (the header) go out at once, in their own write, so the socket holds the large part alone behind
 * them and hands it to _write by itself when they are done; nothing is handed after it until its
 * write completes. It costs a TLS record and a write of the header, and saves a copy of the part.
 *
 * Invariants: bytes leave in exactly the order they were written (cork only delays, messages
 * wait in order, and writes made directly on the socket join the same queue); a message waits at
 * most until the end of the current callback, or, beyond `aheadBytesMax`, until the socket's
 * earlier writes complete, or a large last part's write, never for a timer; cork and uncork stay
 * balanced (end() flushes and clears the cork itself, and uncork on an ended or destroyed socket
 * does nothing); `socket.writableLength` stays at most `aheadBytesMax`, or one message; a last
 * part of `soloBytesMin` or more is the only buffer of its _write (unless code beside the batch
 * writes directly on the socket meanwhile: then it is copied, and order still holds). Buffers
 * handed in must not be changed afterwards: they may be sent later, not copied.
 */
export class SocketBatch {
  /** The socket holds one cork of ours until the flush runs (or a large part uncorks it early). */
  private corked = false;
  /** A process.nextTick flush is pending. */
  private flushQueued = false;
  /** A large last part has been handed and its write has not completed: nothing joins it. */
  private soloInFlight = false;
  /** Messages beyond `aheadBytesMax`, oldest first; dropped when the socket breaks. */
  private readonly waiting: Waiting[] = [];
  /** end() was called: the socket ends once `waiting` is empty, and nothing more is accepted. */
  private ending = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly aheadBytesMax = Number.POSITIVE_INFINITY,
    private readonly soloBytesMin = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * On a TLS socket, a batch bounded by limits.tlsWriteAheadBytesMax that sends last parts of
   * limits.tlsSoloWriteBytesMin or more alone; on a plain one, unbounded, handing the kernel the
   * parts themselves, uncopied, in one writev.
   */
  static bounded(socket: net.Socket): SocketBatch {
    if (!(socket instanceof TLSSocket)) return new SocketBatch(socket);
    return new SocketBatch(socket, limits.tlsWriteAheadBytesMax, limits.tlsSoloWriteBytesMin);
  }

  /**
   * Queues one message. Returns socket.write's answer (false: the socket buffers more than its
   * high-water mark; 'drain' follows once it has sent them), false when the message waits here
   * beyond `aheadBytesMax`, and false on a destroyed or ended socket, where the message is
   * dropped. `sent` runs once the socket has written every part (the kernel, or TLS, has them:
   * the buffers may be reused), and never if the write fails.
   */
  write(parts: readonly Buffer[], sent?: () => void): boolean {
    if (this.ending || this.socket.destroyed || this.socket.writableEnded) return false;
    let bytes = 0;
    for (const part of parts) bytes += part.length;
    if (this.waiting.length > 0 || !this.takes(parts, bytes)) {
      this.waiting.push({ parts, sent, bytes });
      return false;
    }
    return this.hand(parts, sent);
  }

  /**
   * Ends the socket once every message queued here has been handed to it (socket.end() alone
   * would drop those still waiting beyond `aheadBytesMax`); later messages are dropped.
   */
  end(): void {
    this.ending = true;
    if (this.waiting.length === 0) this.socket.end();
  }

  private takes(parts: readonly Buffer[], bytes: number): boolean {
    if (this.soloInFlight) return false;
    const held = this.socket.writableLength;
    if (this.goesAlone(parts)) return held === 0;
    return held === 0 || held + bytes <= this.aheadBytesMax;
  }

  private goesAlone(parts: readonly Buffer[]): boolean {
    return parts.length > 0 && parts[parts.length - 1]!.length >= this.soloBytesMin;
  }

  private hand(parts: readonly Buffer[], sent: (() => void) | undefined): boolean {
    if (this.goesAlone(parts)) return this.handAlone(parts, sent);
    const socket = this.socket;
    this.cork();
    const bounded = this.aheadBytesMax !== Number.POSITIVE_INFINITY;
    let below = true;
    const last = parts.length - 1;
    for (let i = 0; i < last; i++) below = socket.write(parts[i]!);
    if (last < 0) return below;
    if (sent === undefined) return bounded ? socket.write(parts[last]!, this.written) : socket.write(parts[last]!);
    return socket.write(parts[last]!, (err) => {
      if (err !== null && err !== undefined) return this.written(err);
      sent();
      if (bounded) this.written();
    });
  }

  /**
   * Hands a message whose last part goes alone, to a socket that holds nothing: the other parts
   * leave now, in one write, and the socket holds the last part behind them alone.
   */
  private handAlone(parts: readonly Buffer[], sent: (() => void) | undefined): boolean {
    const socket = this.socket;
    const last = parts.length - 1;
    this.cork();
    for (let i = 0; i < last; i++) socket.write(parts[i]!);
    this.uncork();
    this.soloInFlight = true;
    return socket.write(parts[last]!, (err) => {
      this.soloInFlight = false;
      if (err !== null && err !== undefined) return this.written(err);
      sent?.();
      this.written();
    });
  }

  private cork(): void {
    if (this.corked) return;
    this.socket.cork();
    this.corked = true;
    if (this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(this.flush);
  }

  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  }

  /** After a write of ours completed (one function for all: Node then runs them in one tick). */
  private readonly written = (err?: Error | null): void => {
    if (err !== null && err !== undefined) this.waiting.length = 0;
    else this.release();
  };

  /** Hands the socket the waiting messages that fit now. */
  private release(): void {
    if (this.socket.destroyed || this.socket.writableEnded) {
      this.waiting.length = 0;
      return;
    }
    while (this.waiting.length > 0 && this.takes(this.waiting[0]!.parts, this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.hand(next.parts, next.sent);
    }
    if (this.ending && this.waiting.length === 0) this.socket.end();
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    this.uncork();
  };
}
