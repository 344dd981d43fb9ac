import { Client, Metadata } from '@grpc/grpc-js';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { Message } from '@basalt/raft';
import { limits } from '@basalt/stdx';
import { raftService, type TransportSecurity } from '@basalt/wire';
import type { raftpb } from '@basalt/wire';
import type { MemberBook } from './members.js';
import { messageToPb } from './raft-codec.js';

export interface TransportOptions {
  selfId: string;
  selfAddress: string;
  cluster: string;
  book: MemberBook;
  /** A batch to the peer was not acknowledged (stream failed or timed out): Raft should probe it instead of streaming to it. */
  onUnreachable(id: string): void;
  /** A snapshot reached the peer (failed false) or did not (failed true). */
  onSnapshotSent(id: string, failed: boolean): void;
  sendTimeoutMs: number;
  /** How the streams to peers are secured (the member's one TransportSecurity). */
  security: TransportSecurity;
}

/** grpc-js channel options of the Raft transport; a snapshot travels in one message. */
export const raftChannelOptions = {
  'grpc.max_send_message_length': limits.raftTransportMessageBytesMax,
  'grpc.max_receive_message_length': limits.raftTransportMessageBytesMax,
  'grpc.initial_reconnect_backoff_ms': 50,
  'grpc.max_reconnect_backoff_ms': 500,
  'grpc.enable_retries': 0,
  // No channelz statistics per message (nothing reads them).
  'grpc.enable_channelz': 0,
} as const;

/**
 * Sends Raft messages to peers over one gRPC bidirectional stream per peer (proto/raft.proto).
 * The messages of one `send` go to each peer as one batch, written at once: Raft bounds what is
 * in flight (inflight appends), and a peer that does not read fills its stream's buffer, after
 * which messages wait in a queue of at most limits.raftTransportQueueMax (the oldest dropped
 * beyond; Raft retransmits) and leave as one batch when the buffer drains. A batch asks to be
 * acknowledged when it carries a snapshot, and otherwise at most once per
 * limits.raftTransportAckIntervalMs while no ack is awaited: an ack not received within
 * sendTimeoutMs fails the stream (the next batch opens a new one), and a stream that fails after
 * a batch sent since the last ack reports the peer unreachable. Not acknowledging every batch
 * spares both members a message and a wake-up per batch.
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

/** The stream to one peer. */
type RaftStream = ClientDuplexStream<raftpb.IMessageBatch, raftpb.SendAck>;

/** A batch that asked for an ack and has not had it. */
interface AwaitedAck {
  readonly seq: number;
  readonly hasSnapshot: boolean;
  readonly timer: NodeJS.Timeout;
}

class PeerSender {
  private queue: Message[] = [];
  private stream: RaftStream | undefined;
  /** Batches written on `stream`, numbered from 1 (their seq). */
  private sent = 0;
  /** Every batch of `stream` through this seq was received. */
  private ackedThrough = 0;
  /** The batches of `stream` that asked for an ack, oldest first. */
  private awaited: AwaitedAck[] = [];
  private lastAckRequestMs = -Infinity;
  /** `stream`'s buffer is full: batches wait in `queue` until it drains. */
  private blocked = false;
  private closed = false;
  private readonly client: Client;
  /** The credentials' generation the channel was opened with: a reload (rotation) opens a new one. */
  readonly generation: number;

  constructor(readonly id: string, readonly address: string, private readonly opts: TransportOptions) {
    this.generation = opts.security.generation;
    this.client = new Client(address, opts.security.channelCredentials(), raftChannelOptions);
  }

  enqueue(m: Message): void {
    this.queue.push(m);
    if (this.queue.length > limits.raftTransportQueueMax) this.queue.shift();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    this.dropAwaited();
    this.stream?.cancel();
    this.stream = undefined;
    this.client.close();
  }

  /** Writes the queued messages as one batch unless the stream's buffer is full. */
  flush(): void {
    if (this.closed || this.blocked || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const stream = this.stream ?? this.open();
    const seq = ++this.sent;
    const hasSnapshot = batch.some((m) => m.type === 'MsgSnap');
    const now = performance.now();
    const ackRequested = hasSnapshot || (this.awaited.length === 0 && now - this.lastAckRequestMs >= limits.raftTransportAckIntervalMs);
    if (ackRequested) {
      this.lastAckRequestMs = now;
      this.awaited.push({ seq, hasSnapshot, timer: setTimeout(() => this.fail(stream), this.opts.sendTimeoutMs) });
    }
    const room = stream.write({ from: this.opts.selfId, cluster: this.opts.cluster, fromAddress: this.opts.selfAddress, messages: batch.map(messageToPb), seq, ackRequested });
    if (!room) {
      this.blocked = true;
      stream.once('drain', () => this.drained(stream));
    }
  }

  private open(): RaftStream {
    const { path, requestSerialize, responseDeserialize } = raftService.stream;
    const stream = this.client.makeBidiStreamRequest(path, requestSerialize, responseDeserialize, new Metadata());
    stream.on('data', (ack: raftpb.SendAck) => this.acked(stream, ack));
    // A failed stream reports 'error' (status not OK); one the receiver ended reports 'end'.
    stream.on('error', () => this.fail(stream));
    stream.on('end', () => this.fail(stream));
    this.stream = stream;
    this.sent = 0;
    this.ackedThrough = 0;
    this.lastAckRequestMs = -Infinity; // the first batch on a stream asks: a peer that is down shows at once
    return stream;
  }

  private drained(stream: RaftStream): void {
    if (this.stream !== stream) return;
    this.blocked = false;
    this.flush();
  }

  /** A receiver of the previous version acknowledges every batch, in order, without a seq. */
  private acked(stream: RaftStream, ack: raftpb.SendAck): void {
    if (this.stream !== stream) return;
    this.ackedThrough = ack.seq > 0 ? Math.max(this.ackedThrough, ack.seq) : this.ackedThrough + 1;
    while (this.awaited.length > 0 && this.awaited[0]!.seq <= this.ackedThrough) {
      const a = this.awaited.shift()!;
      clearTimeout(a.timer);
      if (a.hasSnapshot) this.opts.onSnapshotSent(this.id, false);
    }
  }

  /**
   * Drops the stream; what it carried after the last ack may be lost (Raft retransmits), and if it
   * carried anything the peer is reported unreachable (an idle stream that fails is no failed send).
   */
  private fail(stream: RaftStream): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    this.blocked = false;
    stream.cancel();
    const unacknowledged = this.sent > this.ackedThrough;
    const snapshots = this.dropAwaited();
    if (unacknowledged) this.opts.onUnreachable(this.id);
    for (let i = 0; i < snapshots; i++) this.opts.onSnapshotSent(this.id, true);
    this.flush();
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
