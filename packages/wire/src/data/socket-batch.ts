import type net from 'node:net';

/**
 * Sends the messages queued on a socket during one event-loop turn with few syscalls: the first
 * message of a turn leaves at once (a lone request or reply waits for nothing), the ones after it
 * in that turn gather and leave together in one writev.
 *
 * Each message (a frame's header and payload parts) costs a syscall when written alone, and on
 * loopback TCP that syscall also does the receiver's work. At queue depth 32 many replies become
 * ready in one turn (the I/O callbacks of one poll phase and their microtasks), so after the
 * first message of a turn the socket is corked and a setImmediate (the check phase, after those
 * callbacks) uncorks it: Node then hands all buffered parts to the socket's _writev at once.
 *
 * With flush 'tick' (for a process whose turns are mostly one callback, like the NBD agent at
 * queue depth 1) the batch is one callback instead of one turn: the first message corks the socket
 * and a process.nextTick uncorks it, which runs once the callback's synchronous code and the
 * promise jobs it started are done. So every message of that callback leaves in one writev, at
 * once, and the loop gets no setImmediate (which costs an extra non-blocking poll, an epoll_pwait,
 * per turn); messages from different callbacks of one turn leave in separate writes.
 *
 * Invariants: bytes leave in exactly the order they were written (cork only delays; writes made
 * directly on the socket join the same queue); a message waits at most until the end of the
 * current turn, never for a timer; cork and uncork stay balanced (end() flushes and clears the
 * cork itself, and uncork on an ended or destroyed socket does nothing). Buffers handed in must
 * not be changed afterwards: they may be sent later, not copied.
 */
export type BatchFlush = 'turn' | 'tick';

export class SocketBatch {
  /** The socket holds one cork of ours until the flush runs ('turn': this turn sent its first message). */
  private corked = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly flushAt: BatchFlush = 'turn',
  ) {}

  /**
   * Queues one message. Returns socket.write's answer (false: the socket buffers more than its
   * high-water mark; 'drain' follows once it has sent them), and false on a destroyed or ended
   * socket, where the message is dropped.
   */
  write(parts: readonly Buffer[]): boolean {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return false;
    if (this.corked) return writeParts(socket, parts);
    if (this.flushAt === 'tick') {
      socket.cork();
      this.corked = true;
      process.nextTick(this.flush);
      return writeParts(socket, parts);
    }
    socket.cork();
    const below = writeParts(socket, parts);
    socket.uncork(); // the turn's first message: out now, its parts in one writev
    this.corked = true;
    socket.cork();
    setImmediate(this.flush);
    return below;
  }

  private readonly flush = (): void => {
    this.corked = false;
    this.socket.uncork();
  };
}

function writeParts(socket: net.Socket, parts: readonly Buffer[]): boolean {
  let below = true;
  for (const part of parts) below = socket.write(part);
  return below;
}
