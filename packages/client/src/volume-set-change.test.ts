import { describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { ExtentState, type DataConnection, type ExtentRef, type MetaClient, type pb } from '@basalt/wire';
import type { ConnectionPool } from './connection-pool.js';
import { Volume } from './volume.js';

/**
 * A write whose primary dropped a failed member while serving it answers from a newer epoch.
 * The SDK must not keep the old set: a read that falls over would reach the dropped member,
 * which does not know it was dropped and serves what it has (found while building the
 * whole-cluster simulation, packages/sim).
 */
const members = (ids: string[]): pb.IReplica[] => ids.map((id) => ({ serverId: id, address: `${id}:1` }));

describe('a mutation that moved the replica set on', () => {
  it('re-reads the set before it resolves, so a later read never falls over to the dropped member', async () => {
    let epoch = 3;
    let set = ['p', 's', 't'];
    const mapCalls: number[] = [];
    const meta = {
      call: (method: string) => {
        expect(method).toBe('getExtentMap');
        mapCalls.push(epoch);
        return Promise.resolve({ volumeId: 1, extentSizeBytes: 1 << 20, generation: 1, extents: [{ index: 0, epoch, primary: set[0], replicas: members(set) }] });
      },
    } as unknown as MetaClient;
    const reads: string[] = [];
    const conn = (id: string): DataConnection =>
      ({
        write: (ref: ExtentRef) => {
          expect(ref.epoch).toBe(3);
          // The primary dropped s while replicating this write: the set is now (p, t) at epoch 4.
          epoch = 4;
          set = ['p', 't'];
          return Promise.resolve({ epoch: 4, version: 1, state: ExtentState.Active });
        },
        read: (ref: ExtentRef, _offset: number, length: number) => {
          reads.push(`${id}@${ref.epoch}`);
          if (id === 'p') return Promise.reject(new BasaltError(ErrorCode.Timeout, 'slow primary'));
          return Promise.resolve({ data: Buffer.alloc(length, id === 't' ? 1 : 0), epoch: ref.epoch, version: 1, state: ExtentState.Active });
        },
      }) as unknown as DataConnection;
    const pool = { ready: (address: string) => conn(address.split(':')[0]!), get: (address: string) => Promise.resolve(conn(address.split(':')[0]!)) } as unknown as ConnectionPool;
    const volume = new Volume({ id: 1, name: 'v', sizeBytes: 1 << 20, extentSizeBytes: 1 << 20, replicationFactor: 3 }, { meta, pool, lease: { clientId: 'c', generation: 1 }, onEvent: () => undefined });

    await volume.write(0, Buffer.alloc(4096, 1));
    expect(mapCalls).toEqual([3, 4]);
    const data = await volume.read(0, 4096);
    expect(reads).toEqual(['p@4', 't@4']);
    expect(data[0]).toBe(1);
  });
});
