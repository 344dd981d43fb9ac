import { Client, credentials, Metadata } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import type { Message } from '@basalt/raft';
import { limits } from '@basalt/stdx';
import { raftService } from '@basalt/wire';
import type { raftpb } from '@basalt/wire';
import type { MemberBook } from './members.js';
import { messageToPb } from './raft-codec.js';

export interface TransportOptions {
  selfId: string;
  selfAddress: string;
  cluster: string;
  book: MemberBook;
  /** A Send to the peer failed: Raft should probe it instead of streaming to it. */
  onUnreachable(id: string): void;
  /** A snapshot reached the peer (failed false) or did not (failed true). */
  onSnapshotSent(id: string, failed: boolean): void;
  sendTimeoutMs: number;
}

/** grpc-js channel options of the Raft transport; a snapshot travels in one message. */
export const raftChannelOptions = {
  'grpc.max_send_message_length': limits.raftTransportMessageBytesMax,
  'grpc.max_receive_message_length': limits.raftTransportMessageBytesMax,
  'grpc.initial_reconnect_backoff_ms': 50,
  'grpc.max_reconnect_backoff_ms': 500,
  'grpc.enable_retries': 0,
} as const;

/**
 * Sends Raft messages to peers over gRPC. Per peer: at most one Send in flight; messages queued
 * meanwhile go in the next batch (so a slow peer costs one batch, not one call per message);
 * at most limits.raftTransportQueueMax queued, the oldest dropped beyond (Raft retransmits).
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
    if (peer !== undefined && peer.address !== address) {
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

class PeerSender {
  private queue: Message[] = [];
  private inflight = false;
  private readonly client: Client;

  constructor(readonly id: string, readonly address: string, private readonly opts: TransportOptions) {
    this.client = new Client(address, credentials.createInsecure(), raftChannelOptions);
  }

  enqueue(m: Message): void {
    this.queue.push(m);
    if (this.queue.length > limits.raftTransportQueueMax) this.queue.shift();
    if (!this.inflight) this.flush();
  }

  close(): void {
    this.queue = [];
    this.client.close();
  }

  private flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.inflight = true;
    const request: raftpb.IMessageBatch = {
      from: this.opts.selfId, cluster: this.opts.cluster, fromAddress: this.opts.selfAddress, messages: batch.map(messageToPb),
    };
    const hasSnapshot = batch.some((m) => m.type === 'MsgSnap');
    this.client.makeUnaryRequest(
      raftService.send.path, raftService.send.requestSerialize, raftService.send.responseDeserialize, request,
      new Metadata(), { deadline: Date.now() + this.opts.sendTimeoutMs },
      (err: ServiceError | null) => {
        this.inflight = false;
        if (err) this.opts.onUnreachable(this.id);
        if (hasSnapshot) this.opts.onSnapshotSent(this.id, err !== null);
        this.flush();
      },
    );
  }
}
