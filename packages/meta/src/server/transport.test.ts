import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '@basalt/raft';
import { raftService, TransportSecurity } from '@basalt/wire';
import type { raftpb } from '@basalt/wire';
import { MemberBook } from './members.js';
import { messageFromPb } from './raft-codec.js';
import { RaftTransport } from './transport.js';

/**
 * The Raft transport against a real gRPC server on loopback whose Raft service the test drives:
 * on each stream it acknowledges the batches that ask (as metad does), acknowledges every batch
 * without a seq (as members of the previous version did), keeps silent, or refuses them.
 */
type Mode = 'ack' | 'legacy' | 'silent' | 'refuse';

interface Receiver {
  /** The behaviour on the n-th stream opened (from 0); 'ack' past the end. */
  modes: Mode[];
  /** Streams opened by the sender. */
  streams: number;
  /** Messages received, in order. */
  received: Message[];
  batches: number;
  /** Batches that asked for an ack. */
  asked: number;
  port: number;
  server: Server;
}

async function startReceiver(): Promise<Receiver> {
  const server = new Server();
  const r: Receiver = { modes: [], streams: 0, received: [], batches: 0, asked: 0, port: 0, server };
  server.addService(raftService, {
    stream: (call: ServerDuplexStream<raftpb.MessageBatch, raftpb.ISendAck>) => {
      const mode = r.modes[r.streams++] ?? 'ack';
      call.on('data', (batch: raftpb.MessageBatch) => {
        r.batches++;
        if (batch.ackRequested) r.asked++;
        for (const p of batch.messages) r.received.push(messageFromPb(p)!);
        if (mode === 'ack' && batch.ackRequested) call.write({ seq: batch.seq });
        if (mode === 'legacy') call.write({});
        if (mode === 'refuse') call.emit('error', { code: status.INVALID_ARGUMENT, details: 'refused by the test' });
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  });
  r.port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
  return r;
}

function heartbeat(term: number): Message {
  return { type: 'MsgHeartbeat', from: 'm1', to: 'm2', term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
}

function snapshotMessage(): Message {
  return { ...heartbeat(1), type: 'MsgSnap', snapshot: { meta: { index: 5, term: 1, conf: { voters: ['m1', 'm2'], learners: [] } }, data: new Uint8Array([1, 2, 3]) } };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Events {
  unreachable: string[];
  snapshots: { id: string; failed: boolean }[];
}

function transportTo(r: Receiver, sendTimeoutMs: number): { transport: RaftTransport; events: Events } {
  const events: Events = { unreachable: [], snapshots: [] };
  const transport = new RaftTransport({
    selfId: 'm1', selfAddress: '127.0.0.1:1', cluster: 'test', book: new MemberBook(new Map([['m2', `127.0.0.1:${r.port}`]])),
    onUnreachable: (id) => events.unreachable.push(id),
    onSnapshotSent: (id, failed) => events.snapshots.push({ id, failed }),
    sendTimeoutMs, security: TransportSecurity.insecure(),
  });
  return { transport, events };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('Raft transport over one gRPC stream per peer', () => {
  it('delivers every message in order on one stream, one batch per send, asking for an ack on the first batch and on snapshots only', async () => {
    const r = await startReceiver();
    const { transport, events } = transportTo(r, 10_000);
    cleanups.push(() => transport.close(), () => r.server.forceShutdown());
    for (let term = 1; term <= 200; term++) transport.send([heartbeat(term)]);
    await until(() => r.received.length === 200, '200 messages');
    expect(r.received.map((m) => m.term)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(r.streams).toBe(1);
    expect(r.batches).toBeLessThanOrEqual(200); // one per send, or fewer while the stream's buffer was full
    expect(r.asked).toBeLessThan(r.batches); // the first; then at most one per limits.raftTransportAckIntervalMs
    const asked = r.asked;
    transport.send([snapshotMessage()]);
    await until(() => events.snapshots.length === 1, 'the snapshot ack');
    expect(r.asked).toBe(asked + 1);
    expect(events).toEqual({ unreachable: [], snapshots: [{ id: 'm2', failed: false }] });
    expect(r.streams).toBe(1);
  });

  it('counts the acks of a member of the previous version, which acknowledges every batch without a seq', async () => {
    const r = await startReceiver();
    r.modes = ['legacy'];
    const { transport, events } = transportTo(r, 10_000);
    cleanups.push(() => transport.close(), () => r.server.forceShutdown());
    for (let term = 1; term <= 20; term++) transport.send([heartbeat(term)]);
    transport.send([snapshotMessage()]);
    await until(() => events.snapshots.length === 1, 'the snapshot ack');
    expect(events).toEqual({ unreachable: [], snapshots: [{ id: 'm2', failed: false }] });
    expect(r.received).toHaveLength(21);
    expect(r.streams).toBe(1);
  });

  it('reports a peer that does not acknowledge in time unreachable, and opens a new stream for the next batch', async () => {
    const r = await startReceiver();
    r.modes = ['silent'];
    const { transport, events } = transportTo(r, 300);
    cleanups.push(() => transport.close(), () => r.server.forceShutdown());
    transport.send([snapshotMessage()]);
    transport.send([heartbeat(2)]); // on the same stream, asks for nothing
    await until(() => events.unreachable.length === 1, 'the send timeout');
    expect(events.snapshots).toEqual([{ id: 'm2', failed: true }]);
    transport.send([heartbeat(3)]);
    await until(() => r.received.some((m) => m.term === 3), 'the next message on a new stream');
    expect(r.streams).toBe(2);
    transport.send([heartbeat(4)]);
    await until(() => r.received.some((m) => m.term === 4), 'the next message');
    expect(events.unreachable).toEqual(['m2']);
    expect(r.streams).toBe(2);
  });

  it('reports a peer that refuses a batch unreachable, and a peer that is down', async () => {
    const r = await startReceiver();
    r.modes = ['refuse'];
    const { transport, events } = transportTo(r, 10_000);
    cleanups.push(() => transport.close());
    transport.send([heartbeat(1)]);
    await until(() => events.unreachable.length === 1, 'the refusal');
    transport.send([heartbeat(2)]);
    await until(() => r.received.some((m) => m.term === 2), 'a message on a new stream');
    expect(r.streams).toBe(2);
    r.server.forceShutdown(); // an idle stream that fails is no failed send
    transport.send([heartbeat(3)]);
    await until(() => events.unreachable.length === 2, 'a send to a peer that is down to fail');
    expect(events.unreachable).toEqual(['m2', 'm2']);
  });
});
