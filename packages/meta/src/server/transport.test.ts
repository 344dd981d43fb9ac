import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '@basalt/raft';
import { decodeRaftBatch, encodeRaftAck, raftBatchSplitter, TransportSecurity } from '@basalt/wire';
import { MemberBook } from './members.js';
import { messageFromPb } from './raft-codec.js';
import { RaftTransport } from './transport.js';

/**
 * The Raft transport against a framed receiver on loopback that the test drives: on each
 * connection it acknowledges the batches that ask (as metad does), keeps silent, or refuses them
 * (closes the connection, as metad does with a batch of another cluster or a refused peer), or
 * resets it as soon as it is accepted (a process that is dying and still closing its files).
 */
type Mode = 'ack' | 'silent' | 'refuse' | 'reset';

interface Receiver {
  /** The behaviour on the n-th connection opened (from 0); 'ack' past the end. */
  modes: Mode[];
  /** Connections opened by the sender. */
  connections: number;
  /** Messages received, in order. */
  received: Message[];
  batches: number;
  /** Batches that asked for an ack. */
  asked: number;
  port: number;
  server: net.Server;
  /** Stops listening and drops every connection (the peer is down). */
  stop(): void;
  /** Drops every connection and goes on listening. */
  drop(): void;
}

async function startReceiver(): Promise<Receiver> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const mode = r.modes[r.connections++] ?? 'ack';
    if (mode === 'reset') {
      socket.destroy();
      return;
    }
    const splitter = raftBatchSplitter();
    socket.on('data', (chunk: Buffer) => {
      for (const frame of splitter.push(chunk).frames) {
        const batch = decodeRaftBatch(frame);
        r.batches++;
        if (batch.ackRequested) r.asked++;
        for (const p of batch.messages) r.received.push(messageFromPb(p)!);
        if (mode === 'ack' && batch.ackRequested) socket.write(Buffer.concat(encodeRaftAck({ seq: batch.seq })));
        if (mode === 'refuse') socket.destroy();
      }
    });
    socket.on('error', () => undefined);
  });
  const r: Receiver = {
    modes: [], connections: 0, received: [], batches: 0, asked: 0, port: 0, server,
    stop: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
    drop: () => {
      for (const s of sockets) s.destroy();
    },
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.port = (server.address() as net.AddressInfo).port;
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
  refused: string[];
  snapshots: { id: string; failed: boolean }[];
}

function transportTo(r: Receiver, sendTimeoutMs: number): { transport: RaftTransport; events: Events } {
  const events: Events = { unreachable: [], refused: [], snapshots: [] };
  const transport = new RaftTransport({
    selfId: 'm1', selfAddress: '127.0.0.1:1', cluster: 'test', book: new MemberBook(new Map([['m2', `127.0.0.1:${r.port}`]])),
    onUnreachable: (id) => events.unreachable.push(id),
    onRefused: (id) => events.refused.push(id),
    onSnapshotSent: (id, failed) => events.snapshots.push({ id, failed }),
    sendTimeoutMs, security: TransportSecurity.insecure(),
  });
  return { transport, events };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('Raft transport over one framed connection per peer', () => {
  it('delivers every message in order on one connection, one batch per send, asking for an ack on the first batch and on snapshots only', async () => {
    const r = await startReceiver();
    const { transport, events } = transportTo(r, 10_000);
    cleanups.push(() => transport.close(), () => r.stop());
    for (let term = 1; term <= 200; term++) transport.send([heartbeat(term)]);
    await until(() => r.received.length === 200, '200 messages');
    expect(r.received.map((m) => m.term)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(r.connections).toBe(1);
    expect(r.batches).toBeLessThanOrEqual(200); // one per send, or fewer while the socket's buffer was full
    expect(r.asked).toBeLessThan(r.batches); // the first; then at most one per limits.raftTransportAckIntervalMs
    const asked = r.asked;
    transport.send([snapshotMessage()]);
    await until(() => events.snapshots.length === 1, 'the snapshot ack');
    expect(r.asked).toBe(asked + 1);
    expect(events).toEqual({ unreachable: [], refused: [], snapshots: [{ id: 'm2', failed: false }] });
    expect(r.connections).toBe(1);
  });

  it('reports a peer that does not acknowledge in time unreachable, and opens a new connection for the next batch', async () => {
    const r = await startReceiver();
    r.modes = ['silent'];
    const { transport, events } = transportTo(r, 300);
    cleanups.push(() => transport.close(), () => r.stop());
    transport.send([snapshotMessage()]);
    transport.send([heartbeat(2)]); // on the same connection, asks for nothing
    await until(() => events.unreachable.length === 1, 'the send timeout');
    expect(events.snapshots).toEqual([{ id: 'm2', failed: true }]);
    transport.send([heartbeat(3)]);
    await until(() => r.received.some((m) => m.term === 3), 'the next message on a new connection');
    expect(r.connections).toBe(2);
    transport.send([heartbeat(4)]);
    await until(() => r.received.some((m) => m.term === 4), 'the next message');
    expect(events.unreachable).toEqual(['m2']);
    expect(events.refused).toEqual([]); // a silent peer is slow, not gone
    expect(r.connections).toBe(2);
  });

  it('reports a peer that refuses a batch unreachable, and a peer that is down', async () => {
    const r = await startReceiver();
    r.modes = ['refuse'];
    const { transport, events } = transportTo(r, 10_000);
    cleanups.push(() => transport.close());
    transport.send([heartbeat(1)]);
    await until(() => events.unreachable.length === 1, 'the refusal');
    transport.send([heartbeat(2)]);
    await until(() => r.received.some((m) => m.term === 2), 'a message on a new connection');
    expect(r.connections).toBe(2);
    r.stop(); // an idle connection that fails is no failed send
    transport.send([heartbeat(3)]);
    await until(() => events.unreachable.length === 2, 'a send to a peer that is down to fail');
    expect(events.unreachable).toEqual(['m2', 'm2']);
  });

  it('when an acknowledged peer goes down, reconnects at once with nothing to send and reports the refusal, once', async () => {
    const r = await startReceiver();
    const { transport, events } = transportTo(r, 10_000);
    cleanups.push(() => transport.close());
    transport.send([snapshotMessage()]);
    await until(() => events.snapshots.length === 1, 'the snapshot ack'); // the sender has an ack on this connection
    r.stop();
    await until(() => events.refused.length === 1, 'the refused reconnect');
    expect(events.refused).toEqual(['m2']);
    expect(events.unreachable).toEqual([]); // nothing was in flight
    // The refused probe is not retried; a batch sent now is refused (and unacknowledged) once more.
    transport.send([heartbeat(2)]);
    await until(() => events.refused.length === 2, 'the refused batch');
    expect(events.unreachable).toEqual(['m2']);
    expect(r.connections).toBe(1);
  });

  it('retries a reconnect probe that is reset while the peer still listens, until one is refused', async () => {
    const r = await startReceiver();
    r.modes = ['ack', 'reset', 'reset', 'reset', 'reset', 'reset'];
    const { transport, events } = transportTo(r, 10_000);
    cleanups.push(() => transport.close());
    transport.send([snapshotMessage()]);
    await until(() => events.snapshots.length === 1, 'the snapshot ack');
    r.drop(); // the dying process's connections close first ...
    await until(() => r.connections >= 2, 'a probe that is accepted and reset');
    r.stop(); // ... and then its listening port
    await until(() => events.refused.length === 1, 'a refused probe');
    expect(events.refused).toEqual(['m2']);
    expect(events.unreachable).toEqual([]);
  });
});
