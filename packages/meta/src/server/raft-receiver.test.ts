import net from 'node:net';
import { Client, Metadata, Server } from '@grpc/grpc-js';
import type { ServerUnaryCall, ServiceError, sendUnaryData } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { decodeRaftAck, encodeRaftBatch, metaService, raftAckSplitter, raftBatchMagic, TransportSecurity, type raftpb } from '@basalt/wire';
import { MetaListener } from './meta-listener.js';
import { serveRaftConnection } from './raft-receiver.js';

/**
 * A Raft connection as metad serves it (MetaListener hands it to serveRaftConnection), on
 * loopback in the clear: what is stepped, what is acknowledged, and how each framing error
 * closes the connection with a typed error before anything after it is stepped.
 */
interface Served {
  received: raftpb.MessageBatch[];
  closedWith: unknown[];
  port: number;
  /** Makes `receive` refuse the batches of this cluster, as RaftHost does those of another. */
  refuseCluster?: string;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A MetaListener whose gRPC server answers Status with the caller's name, and whose Raft connections record their batches. */
async function serve(): Promise<Served> {
  const security = TransportSecurity.insecure();
  const grpc = new Server();
  grpc.addService(metaService, {
    status: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => callback(null, { id: security.peerIdentityOfCall(call).name }),
  });
  const s: Served = { received: [], closedWith: [], port: 0 };
  const listener = await MetaListener.listen('127.0.0.1', 0, security, grpc, {
    raft: (socket, first, refused) => serveRaftConnection(socket, first, refused, {
      security,
      receive: (batch) => {
        if (batch.cluster === s.refuseCluster) throw new BasaltError(ErrorCode.InvalidArgument, `message from cluster "${batch.cluster}"`);
        s.received.push(batch);
      },
      onClosed: (err) => s.closedWith.push(err),
    }),
    meta: (socket) => socket.destroy(),
  });
  s.port = listener.port;
  cleanups.push(() => listener.close(), () => grpc.forceShutdown());
  return s;
}

function batch(seq: number, ackRequested: boolean, cluster = 'test'): Buffer {
  return Buffer.concat(encodeRaftBatch({ from: 'm1', cluster, fromAddress: '', messages: [], seq, ackRequested }));
}

function prefix(magic: number, bodyBytes: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(magic, 0);
  b.writeUInt32BE(bodyBytes, 4);
  return b;
}

/** Writes `bytes` (then ends the connection when `end`), and returns the acks read until the member closed it. */
async function exchange(port: number, bytes: Buffer, end = false): Promise<number[]> {
  return new Promise<number[]>((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => (end ? socket.end(bytes) : socket.write(bytes)));
    const acks = raftAckSplitter();
    const seqs: number[] = [];
    socket.on('data', (chunk: Buffer) => {
      for (const f of acks.push(chunk).frames) seqs.push(decodeRaftAck(f).seq);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(seqs));
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const codeOf = (err: unknown): string => (err instanceof BasaltError ? err.code : `not a BasaltError: ${String(err)}`);

describe('a Raft connection on metad\'s port', () => {
  it('steps every batch in order and acknowledges those that ask, while gRPC answers on the same port', async () => {
    const s = await serve();
    const client = new Client(`127.0.0.1:${s.port}`, TransportSecurity.insecure().channelCredentials());
    cleanups.push(() => client.close());
    const def = metaService.status;
    const status = await new Promise<{ id: string }>((resolve, reject) => {
      client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, {}, new Metadata(), {}, (err: ServiceError | null, reply?: { id: string }) => (err ? reject(err) : resolve(reply!)));
    });
    expect(status.id).toBe('insecure');
    const socket = net.connect({ port: s.port, host: '127.0.0.1' });
    cleanups.push(() => socket.destroy());
    const acks = raftAckSplitter();
    const seqs: number[] = [];
    socket.on('data', (chunk: Buffer) => {
      for (const f of acks.push(chunk).frames) seqs.push(decodeRaftAck(f).seq);
    });
    // Three batches in one write, the second split across two: frames are cut wherever the bytes fall.
    const bytes = Buffer.concat([batch(1, true), batch(2, false), batch(3, true)]);
    socket.write(bytes.subarray(0, 30));
    await until(() => s.received.length === 1, 'the first batch');
    socket.write(bytes.subarray(30));
    await until(() => seqs.length === 2, 'two acks');
    expect(s.received.map((b) => Number(b.seq))).toEqual([1, 2, 3]);
    expect(seqs).toEqual([1, 3]);
    expect(s.closedWith).toEqual([]);
  });

  it('closes the connection with BASALT_PROTOCOL on a bad magic, after stepping the batches before it', async () => {
    const s = await serve();
    await exchange(s.port, Buffer.concat([batch(1, true), prefix(0xdeadbeef, 0), batch(2, true)]));
    await until(() => s.closedWith.length === 1, 'the close');
    expect(s.received.map((b) => Number(b.seq))).toEqual([1]);
    expect(codeOf(s.closedWith[0])).toBe(ErrorCode.Protocol);
    expect(String((s.closedWith[0] as Error).message)).toMatch(/bad magic/);
  });

  it('closes the connection with BASALT_PROTOCOL on a frame above the size limit, a body that does not decode, and an end inside a frame', async () => {
    const s = await serve();
    await exchange(s.port, prefix(raftBatchMagic, 0xffffffff));
    await exchange(s.port, Buffer.concat([prefix(raftBatchMagic, 3), Buffer.from([0xff, 0xff, 0xff])]));
    await exchange(s.port, batch(1, true).subarray(0, 12), true);
    await until(() => s.closedWith.length === 3, 'three closes');
    expect(s.closedWith.map(codeOf)).toEqual([ErrorCode.Protocol, ErrorCode.Protocol, ErrorCode.Protocol]);
    expect(s.closedWith.map((e) => (e as Error).message)).toEqual([
      expect.stringMatching(/above the limit/),
      expect.stringMatching(/does not decode/),
      expect.stringMatching(/ended inside a frame/),
    ]);
    expect(s.received).toEqual([]);
  });

  it('closes the connection without an ack when Raft refuses a batch, and steps nothing after it', async () => {
    const s = await serve();
    s.refuseCluster = 'another';
    const acks = await exchange(s.port, Buffer.concat([batch(1, true, 'another'), batch(2, true)]));
    await until(() => s.closedWith.length === 1, 'the close');
    expect(acks).toEqual([]);
    expect(s.received).toEqual([]);
    expect(codeOf(s.closedWith[0])).toBe(ErrorCode.InvalidArgument);
  });
});
