import type { Message } from '@basalt/raft';
import { limits } from '@basalt/stdx';
import { decodeRaftAck, encodeRaftBatch, parseSocketAddress, raftAckSplitter, raftAlpnProtocol, SocketBatch, type DataSocket, type FrameSplitter, type TransportSecurity } from '@basalt/wire';
import type { MemberBook } from './members.js';
import { messageToPb } from './raft-codec.js';

export interface TransportOptions {
  selfId: string;
  selfAddress: string;
  cluster: string;
  book: MemberBook;
  /** A batch to the peer was not acknowledged (connection failed or timed out): Raft should probe it instead of streaming to it. */
  onUnreachable(id: string): void;
  /**
   * The peer's address refused a connection: nothing listens there, its process is gone (killed,
   * crashed or shut down; a paused process still accepts). Strong evidence, unlike a timeout:
   * Raft may elect a new leader at once.
   */
  onRefused(id: string): void;
  /** A snapshot reached the peer (failed false) or did not (failed true). */
  onSnapshotSent(id: string, failed: boolean): void;
  sendTimeoutMs: number;
  /** How the connections to peers are secured (the member's one TransportSecurity). */
  security: TransportSecurity;
}

/**
 * Sends Raft messages to peers over one framed connection per peer (proto/raft.proto,
 * packages/wire raft-frames.ts), opened by the member's TransportSecurity (mutual TLS, or plain
 * TCP when insecure). The messages of one `send` go to each peer as one batch frame, written at
 * once (SocketBatch: a frame's header and body in one writev at the end of the callback, no timer): Raft bounds what
 * is in flight (inflight appends), and a peer that does not read fills the socket's buffer, after
 * which messages wait in a queue of at most limits.raftTransportQueueMax (the oldest dropped
 * beyond; Raft retransmits) and leave as one batch when the socket drains. A batch asks to be
 * acknowledged when it carries a snapshot, and otherwise at most once per
 * limits.raftTransportAckIntervalMs while no ack is awaited: an ack not received within
 * sendTimeoutMs fails the connection (the next batch opens a new one), and a connection that
 * fails after a batch sent since the last ack reports the peer unreachable. Not acknowledging
 * every batch spares both members a message and a wake-up per batch.
 *
 * A connection that had been acknowledged and then fails is reopened at once, even with nothing
 * to send (a follower sends to its leader only when spoken to): when the peer's process is gone
 * its port refuses the reconnect within a round trip, and a refused connection, for a probe or a
 * batch, is reported (onRefused). While the dying process still closes its files, a probe may
 * connect and then be reset: such a probe is retried, at most limits.raftTransportProbesMax
 * times, limits.raftTransportProbeIntervalMs apart. A refused probe is not retried, so a dead peer
 * costs a few connection attempts per connection it had, plus one per batch sent to it.
 */
export class RaftTransport {
  private readonly peers = new Map<string, PeerSender>();
  private closed = false;

  constructor(private readonly opts: TransportOptions) {}

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    const touched = new Set<PeerSender>();
    for (const m of messages) {
      const peer = this.peer(m.to);
      if (peer === undefined) continue;
      peer.enqueue(m);
      touched.add(peer);
    }
    for (const peer of touched) peer.flush();
  }

  close(): void {
    this.closed = true;
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
  }

  private peer(id: string): PeerSender | undefined {
    const address = this.opts.book.get(id);
    if (address === undefined) return undefined;
    let peer = this.peers.get(id);
    if (peer !== undefined && (peer.address !== address || peer.generation !== this.opts.security.generation)) {
      peer.close();
      peer = undefined;
    }
    if (peer === undefined) {
      peer = new PeerSender(id, address, this.opts);
      this.peers.set(id, peer);
    }
    return peer;
  }
}

/** The connection to one peer, with what reads its acks and what batches its writes. */
interface PeerConnection {
  readonly socket: DataSocket;
  readonly batch: SocketBatch;
  readonly acks: FrameSplitter;
}

/** A batch that asked for an ack and has not had it. */
interface AwaitedAck {
  readonly seq: number;
  readonly hasSnapshot: boolean;
  readonly timer: NodeJS.Timeout;
}

class PeerSender {
  private queue: Message[] = [];
  private conn: PeerConnection | undefined;
  /** Batches written on `conn`, numbered from 1 (their seq). */
  private sent = 0;
  /** Every batch of `conn` through this seq was received. */
  private ackedThrough = 0;
  /** The batches of `conn` that asked for an ack, oldest first. */
  private awaited: AwaitedAck[] = [];
  private lastAckRequestMs = -Infinity;
  /** Reconnect probes left since the last acknowledged connection failed (see the class comment). */
  private probesLeft = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  /** `conn`'s socket buffers more than its high-water mark: batches wait in `queue` until it drains. */
  private blocked = false;
  private closed = false;
  /** The credentials' generation the connection is opened with: a reload (rotation) opens a new one. */
  readonly generation: number;

  constructor(readonly id: string, readonly address: string, private readonly opts: TransportOptions) {
    this.generation = opts.security.generation;
  }

  enqueue(m: Message): void {
    this.queue.push(m);
    if (this.queue.length > limits.raftTransportQueueMax) this.queue.shift();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    clearTimeout(this.probeTimer);
    this.dropAwaited();
    this.conn?.socket.destroy();
    this.conn = undefined;
  }

  /** Writes the queued messages as one batch unless the socket's buffer is full. */
  flush(): void {
    if (this.closed || this.blocked || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const conn = this.conn ?? this.open();
    const seq = ++this.sent;
    const hasSnapshot = batch.some((m) => m.type === 'MsgSnap');
    const now = performance.now();
    const ackRequested = hasSnapshot || (this.awaited.length === 0 && now - this.lastAckRequestMs >= limits.raftTransportAckIntervalMs);
    if (ackRequested) {
      this.lastAckRequestMs = now;
      this.awaited.push({ seq, hasSnapshot, timer: setTimeout(() => this.fail(conn), this.opts.sendTimeoutMs) });
    }
    const frame = encodeRaftBatch({ from: this.opts.selfId, cluster: this.opts.cluster, fromAddress: this.opts.selfAddress, messages: batch.map(messageToPb), seq, ackRequested });
    if (!conn.batch.write(frame) && !conn.socket.destroyed) {
      this.blocked = true;
      conn.socket.once('drain', () => this.drained(conn));
    }
  }

  private open(): PeerConnection {
    const { host, port } = parseSocketAddress(this.address, 'peer address');
    const socket = this.opts.security.connectData(host, port, () => undefined, raftAlpnProtocol);
    socket.setNoDelay(true);
    const conn: PeerConnection = { socket, batch: new SocketBatch(socket), acks: raftAckSplitter() };
    socket.on('data', (chunk: Buffer) => this.received(conn, chunk));
    // A refused handshake, a reset, or the receiver closing (refusal, another cluster, shutdown).
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(conn, err.code === 'ECONNREFUSED'));
    socket.on('close', () => this.fail(conn));
    this.conn = conn;
    this.sent = 0;
    this.ackedThrough = 0;
    this.lastAckRequestMs = -Infinity; // the first batch on a connection asks: a peer that is down shows at once
    return conn;
  }

  private drained(conn: PeerConnection): void {
    if (this.conn !== conn) return;
    this.blocked = false;
    this.flush();
  }

  /** Acks from the peer; a frame that does not parse fails the connection. */
  private received(conn: PeerConnection, chunk: Buffer): void {
    if (this.conn !== conn) return;
    const split = conn.acks.push(chunk);
    try {
      for (const frame of split.frames) this.acked(decodeRaftAck(frame).seq);
    } catch {
      return this.fail(conn);
    }
    if (split.kind === 'error') this.fail(conn);
  }

  private acked(seq: number): void {
    this.ackedThrough = Math.max(this.ackedThrough, seq);
    while (this.awaited.length > 0 && this.awaited[0]!.seq <= this.ackedThrough) {
      const a = this.awaited.shift()!;
      clearTimeout(a.timer);
      if (a.hasSnapshot) this.opts.onSnapshotSent(this.id, false);
    }
  }

  /**
   * Drops the connection; what it carried after the last ack may be lost (Raft retransmits), and
   * if it carried anything the peer is reported unreachable (an idle connection that fails is no
   * failed send). `refused`: the connection attempt was refused (reported as such). A connection
   * the peer had acknowledged is reopened at once (see the class comment).
   */
  private fail(conn: PeerConnection, refused = false): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.blocked = false;
    conn.socket.destroy();
    const unacknowledged = this.sent > this.ackedThrough;
    const wasAcknowledged = this.ackedThrough > 0;
    const snapshots = this.dropAwaited();
    if (unacknowledged) this.opts.onUnreachable(this.id);
    if (refused) this.opts.onRefused(this.id);
    for (let i = 0; i < snapshots; i++) this.opts.onSnapshotSent(this.id, true);
    this.flush();
    this.probesLeft = refused ? 0 : wasAcknowledged ? limits.raftTransportProbesMax : this.probesLeft;
    if (this.conn === undefined && this.probesLeft > 0) this.probe(wasAcknowledged ? 0 : limits.raftTransportProbeIntervalMs);
  }

  /** Opens a connection with nothing to send after `delayMs`, unless one is open by then. */
  private probe(delayMs: number): void {
    this.probesLeft--;
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      if (!this.closed && this.conn === undefined) this.open();
    }, delayMs);
  }

  /** Stops waiting for the awaited acks; returns how many of those batches carried a snapshot. */
  private dropAwaited(): number {
    let snapshots = 0;
    for (const a of this.awaited) {
      clearTimeout(a.timer);
      if (a.hasSnapshot) snapshots++;
    }
    this.awaited = [];
    this.lastAckRequestMs = -Infinity;
    return snapshots;
  }
}
