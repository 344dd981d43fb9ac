import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, type Identity } from '@basalt/stdx';
import { decodeRaftAck, encodeRaftBatch, raftAckSplitter, raftAlpnProtocol, type TransportSecurity } from '@basalt/wire';
import { MetaCluster } from './lib/meta-cluster.js';
import { ProcessScope } from './lib/process.js';

/**
 * The Raft transport of a mutual-TLS metad cluster: framed connections on each member's one port,
 * beside the gRPC API (docs/metadata.md, "Raft transport"), and who may open one.
 */
const scope = new ProcessScope();
let cluster: MetaCluster;

beforeAll(async () => {
  cluster = await MetaCluster.start(scope, { tls: true });
  await cluster.waitForLeader();
}, 120_000);

afterAll(async () => {
  cluster.close();
  await scope.cleanup();
});

/** What a member answers to one Raft batch that asks for an ack: 'ack' (the ack frame), or 'closed' with nothing read. */
async function raftOutcome(security: TransportSecurity, clusterName: string): Promise<string> {
  const member = cluster.member(0);
  return new Promise<string>((resolve) => {
    const socket = security.connectData('127.0.0.1', member.port, () => undefined, raftAlpnProtocol);
    const acks = raftAckSplitter();
    let outcome = 'closed';
    socket.on('data', (chunk: Buffer) => {
      for (const frame of acks.push(chunk).frames) outcome = `ack ${decodeRaftAck(frame).seq}`;
      socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(outcome));
    for (const part of encodeRaftBatch({ from: 'm9', cluster: clusterName, fromAddress: '', messages: [], seq: 1, ackRequested: true })) socket.write(part);
    setTimeout(() => socket.destroy(), 10_000);
  });
}

describe('the Raft transport over mutual TLS', () => {
  it('replicates writes between the members while the API answers on the same port', async () => {
    const meta = cluster.client();
    await meta.call('createVolume', { name: 'v', sizeBytes: 64 * MiB });
    for (let i = 0; i < 20; i++) await meta.call('setVolumeLabel', { name: 'v', key: 'k', value: String(i) });
    const statuses = await cluster.waitForConvergence();
    expect(statuses.map((s) => s.appliedIndex)).toEqual(statuses.map(() => statuses[0]!.appliedIndex));
  }, 60_000);

  it('acknowledges a batch from a metad certificate and closes the connection of any other role before reading a batch', async () => {
    const as = (identity: Identity): Promise<TransportSecurity> => cluster.securityOf(identity);
    expect(await raftOutcome(await as({ role: 'metad', name: 'm9' }), 'basalt')).toBe('ack 1');
    expect(await raftOutcome(await as({ role: 'chunkd', name: 'cs-1' }), 'basalt')).toBe('closed');
    expect(await raftOutcome(await as({ role: 'client', name: 'u', tenant: 't' }), 'basalt')).toBe('closed');
    // A member of another cluster is refused by Raft: the connection closes without an ack.
    expect(await raftOutcome(await as({ role: 'metad', name: 'm9' }), 'another')).toBe('closed');
  }, 60_000);
});
