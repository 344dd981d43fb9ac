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
 * Per peer: at most one batch awaiting its ack; messages queued meanwhile go in the next batch
 * (so a slow peer costs one batch, not one message each); at most limits.raftTransportQueueMax
 * queued, the oldest dropped beyond (Raft retransmits). A batch not acknowledged within
 * sendTimeoutMs fails its stream; the next batch opens a new one.
 */
export class RaftTransport {
  private readonly peers = new Map<string, PeerSender>();
  private closed = false;

  constructor(private readonly opts: TransportOptions) {}

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    for (const m of messages) this.peer(m.to)?.enqueue(m);
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

/** The stream to one peer and the batch on it awaiting its SendAck. */
type RaftStream = ClientDuplexStream<raftpb.IMessageBatch, raftpb.SendAck>;

interface Unacked {
  readonly stream: RaftStream;
  readonly hasSnapshot: boolean;
  readonly timer: NodeJS.Timeout;
}

class PeerSender {
  private queue: Message[] = [];
  private stream: RaftStream | undefined;
  private unacked: Unacked | undefined;
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
    this.flush();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    if (this.unacked !== undefined) clearTimeout(this.unacked.timer);
    this.unacked = undefined;
    this.stream?.cancel();
    this.stream = undefined;
    this.client.close();
  }

  /** Sends the queued messages as one batch unless a batch still awaits its ack. */
  private flush(): void {
    if (this.closed || this.unacked !== undefined || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const stream = this.stream ?? this.open();
    const timer = setTimeout(() => this.fail(stream), this.opts.sendTimeoutMs);
    this.unacked = { stream, hasSnapshot: batch.some((m) => m.type === 'MsgSnap'), timer };
    stream.write({ from: this.opts.selfId, cluster: this.opts.cluster, fromAddress: this.opts.selfAddress, messages: batch.map(messageToPb) });
  }

  private open(): RaftStream {
    const { path, requestSerialize, responseDeserialize } = raftService.stream;
    const stream = this.client.makeBidiStreamRequest(path, requestSerialize, responseDeserialize, new Metadata());
    stream.on('data', () => this.acked(stream));
    // A failed stream reports 'error' (status not OK); one the receiver ended reports 'end'.
    stream.on('error', () => this.fail(stream));
    stream.on('end', () => this.fail(stream));
    this.stream = stream;
    return stream;
  }

  private acked(stream: RaftStream): void {
    const u = this.unacked;
    if (u === undefined || u.stream !== stream) return;
    clearTimeout(u.timer);
    this.unacked = undefined;
    if (u.hasSnapshot) this.opts.onSnapshotSent(this.id, false);
    this.flush();
  }

  /** Drops the stream; its unacknowledged batch is lost (Raft retransmits), the peer reported unreachable. */
  private fail(stream: RaftStream): void {
    if (this.stream === stream) {
      this.stream = undefined;
      stream.cancel();
    }
    const u = this.unacked;
    if (u === undefined || u.stream !== stream) return;
    clearTimeout(u.timer);
    this.unacked = undefined;
    this.opts.onUnreachable(this.id);
    if (u.hasSnapshot) this.opts.onSnapshotSent(this.id, true);
    this.flush();
  }
}
