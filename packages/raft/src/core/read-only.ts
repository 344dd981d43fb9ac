import { assert } from '@basalt/stdx';
import type { NodeId } from './types.js';

/** A ReadIndex request waiting for a quorum of heartbeat acknowledgements. */
export interface ReadRequest {
  /** The leader's commit index when the request arrived. */
  index: number;
  /** The requester: the leader itself (a local read) or a follower that forwarded it. */
  from: NodeId;
  ctx: Uint8Array;
  acks: Set<NodeId>;
}

/**
 * ReadIndex requests in arrival order (etcd's readOnly, ReadOnlySafe). A heartbeat round
 * carries the ctx of the newest request; a quorum of acks for it confirms leadership as of
 * that moment, which also covers every older request.
 */
export class ReadOnly {
  private pending = new Map<string, ReadRequest>();
  private queue: string[] = [];

  constructor(readonly maxPending: number) {}

  /** Returns false (and records nothing) for a duplicate ctx or when the queue is full. */
  add(index: number, from: NodeId, ctx: Uint8Array): boolean {
    const key = ctxKey(ctx);
    if (this.pending.has(key) || this.queue.length >= this.maxPending) return false;
    this.pending.set(key, { index, from, ctx, acks: new Set() });
    this.queue.push(key);
    return true;
  }

  /** Records `id`'s ack of the round for `ctx`; returns the acks so far (undefined if unknown ctx). */
  recvAck(id: NodeId, ctx: Uint8Array): ReadonlySet<NodeId> | undefined {
    const req = this.pending.get(ctxKey(ctx));
    if (req === undefined) return undefined;
    req.acks.add(id);
    return req.acks;
  }

  /** Removes and returns every request up to and including the one for `ctx`. */
  advance(ctx: Uint8Array): ReadRequest[] {
    const key = ctxKey(ctx);
    const at = this.queue.indexOf(key);
    assert(at >= 0, 'advance on an unknown read ctx');
    const done = this.queue.slice(0, at + 1).map((k) => this.pending.get(k) as ReadRequest);
    for (const k of this.queue.slice(0, at + 1)) this.pending.delete(k);
    this.queue = this.queue.slice(at + 1);
    return done;
  }

  /** The ctx of the newest pending request, to piggyback on heartbeats. */
  lastPendingCtx(): Uint8Array | undefined {
    const key = this.queue[this.queue.length - 1];
    return key === undefined ? undefined : this.pending.get(key)?.ctx;
  }

  size(): number {
    return this.queue.length;
  }
}

function ctxKey(ctx: Uint8Array): string {
  let s = '';
  for (const b of ctx) s += b.toString(16).padStart(2, '0');
  return s;
}
