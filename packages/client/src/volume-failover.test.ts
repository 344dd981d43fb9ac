import { afterEach, describe, expect, it, vi } from 'vitest';
import { BasaltError, ErrorCode, limits } from '@basalt/stdx';
import { ExtentState, tokenBody, type DataConnection, type ExtentRef, type MetaClient, type pb } from '@basalt/wire';
import { ClientMetrics } from './client-metrics.js';
import type { ConnectionPool } from './connection-pool.js';
import { Volume } from './volume.js';

/**
 * A killed chunk server led several extents of a volume. The SDK reports it once; metad fails
 * over every extent of the volume it led, and the SDK sends each write to the new primary at
 * once: no report per extent, no retry backoff before a newer set.
 */
const extent = (index: number, epoch: number, set: string[]): pb.IExtent => ({ index, epoch, primary: set[0], replicas: set.map((id) => ({ serverId: id, address: `${id}:1` })) });
const MiB = 1 << 20;

interface Fake {
  volume: Volume;
  metaCalls: string[];
  writes: string[];
  metrics: ClientMetrics;
}

/** Extents 0..3 at epoch 1: x leads 0 and 2; `drop` answers DropReplica. */
function fake(drop: (r: pb.IDropReplicaRequest) => Promise<pb.IExtentReply>, page: () => pb.IExtent[], refuse: (id: string, ref: ExtentRef) => BasaltError | undefined = () => undefined): Fake {
  const metaCalls: string[] = [];
  const meta = {
    call: (method: string, r: pb.IDropReplicaRequest & pb.IGetExtentMapRequest) => {
      metaCalls.push(method === 'getExtentMap' ? `getExtentMap ${r.fromIndex}+${r.count}` : `${method} ${r.index}@${r.expectedEpoch}${r.failOverVolume === true ? ' volume' : ''}`);
      if (method === 'dropReplica') return drop(r);
      expect(method).toBe('getExtentMap');
      return Promise.resolve({ volumeId: 1, extentSizeBytes: MiB, generation: 1, extents: page() });
    },
  } as unknown as MetaClient;
  const writes: string[] = [];
  const conn = (id: string): DataConnection =>
    ({
      write: (ref: ExtentRef) => {
        writes.push(`${id}: ${ref.index}@${ref.epoch}`);
        const refusal = refuse(id, ref);
        if (refusal !== undefined) return Promise.reject(refusal);
        return Promise.resolve({ epoch: ref.epoch, version: 1, state: ExtentState.Active });
      },
    }) as unknown as DataConnection;
  const pool = {
    ready: (address: string) => (address.startsWith('x') ? undefined : conn(address.split(':')[0]!)),
    get: (address: string) => (address.startsWith('x') ? Promise.reject(new BasaltError(ErrorCode.Unavailable, 'connect ECONNREFUSED')) : Promise.resolve(conn(address.split(':')[0]!))),
  } as unknown as ConnectionPool;
  const metrics = new ClientMetrics();
  const volume = new Volume({ id: 1, name: 'v', sizeBytes: 4 * MiB, extentSizeBytes: MiB, replicationFactor: 3 }, { meta, pool, lease: { clientId: 'c', generation: 1 }, onEvent: () => undefined, metrics });
  return { volume, metaCalls, writes, metrics };
}

const initial = (): pb.IExtent[] => [extent(0, 1, ['x', 'p', 's']), extent(1, 1, ['p', 'x', 's']), extent(2, 1, ['x', 's', 'p']), extent(3, 1, ['s', 'p', 'x'])];

async function counts(m: ClientMetrics): Promise<string[]> {
  const text = await m.registry.metrics();
  return text.split('\n').filter((l) => l.startsWith('basalt_client_mutation_duration_seconds_count{')).map((l) => l.replace(/.*path="([a-z_]+)"\} /, '$1 '));
}

afterEach(() => {
  vi.useRealTimers();
});

describe('failover of a silent primary', () => {
  it('reports it once for the volume and sends each write to the new primary without a backoff', async () => {
    const f = fake((r) => {
      expect(r).toMatchObject({ index: 0, serverId: 'x', expectedEpoch: 1, reason: 'unreachable', failOverVolume: true });
      return Promise.resolve({ extent: extent(0, 2, ['p', 's']), failedOver: [extent(2, 2, ['s', 'p'])] });
    }, initial);
    // A backoff would wait on a timer nobody advances: the writes finish only without one.
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    await f.volume.write(0, Buffer.alloc(4096, 1));
    await f.volume.write(2 * MiB, Buffer.alloc(4096, 2));
    expect(f.metaCalls).toEqual([`getExtentMap 0+${limits.clientExtentMapPageExtents}`, 'dropReplica 0@1 volume']);
    expect(f.writes).toEqual(['p: 0@2', 's: 2@2']);
    expect(await counts(f.metrics)).toEqual(['failover 1', 'plain 1']);
  });

  it('re-reads the whole page in one call when metad had moved the set on already', async () => {
    let moved = false;
    const f = fake(() => {
      moved = true;
      return Promise.reject(new BasaltError(ErrorCode.StaleEpoch, 'extent 0 of volume v is at epoch 2, not 1'));
    }, () => (moved ? [extent(0, 2, ['p', 's']), extent(1, 2, ['p', 's']), extent(2, 2, ['s', 'p']), extent(3, 2, ['s', 'p'])] : initial()));
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    await f.volume.write(0, Buffer.alloc(4096, 1));
    await f.volume.write(2 * MiB, Buffer.alloc(4096, 2));
    const page = `getExtentMap 0+${limits.clientExtentMapPageExtents}`;
    expect(f.metaCalls).toEqual([page, 'dropReplica 0@1 volume', page]);
    expect(f.writes).toEqual(['p: 0@2', 's: 2@2']);
  });

  it('re-sends with the newer set a STALE_EPOCH reply carried, without a metad read, and presents it', async () => {
    const signed = (index: number, epoch: number): Buffer => Buffer.concat([
      tokenBody({ kind: 'extent', volumeId: 1, index, epoch, replicas: [{ serverId: 'p', address: 'p:1' }, { serverId: 's', address: 's:1' }, { serverId: 't', address: 't:1', rebuilding: true }] }),
      Buffer.alloc(64),
    ]);
    const stale = (state: Buffer): BasaltError => new BasaltError(ErrorCode.StaleEpoch, 'epoch 1 is older than this server\'s 2', { answered: true, signedState: state });
    const presented: (readonly Buffer[] | undefined)[] = [];
    // Extent 1's primary p moved to epoch 2 (a rebuilding member t was added); extent 3's server sends a state of another extent.
    let pages = 0;
    const f = fake(() => Promise.reject(new Error('no report expected')), () => (pages++ === 0 ? initial() : [extent(3, 5, ['p', 's'])]), (id, ref) => {
      presented.push(ref.auth);
      if (ref.epoch === 1 && ref.index === 1) return stale(signed(1, 2));
      if (ref.epoch === 1 && ref.index === 3) return stale(signed(1, 5));
      return undefined;
    });
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    await f.volume.write(1 * MiB, Buffer.alloc(4096, 1));
    expect(f.writes).toEqual(['p: 1@1', 'p: 1@2']);
    expect(f.metaCalls).toEqual([`getExtentMap 0+${limits.clientExtentMapPageExtents}`]);
    expect(presented[1]).toContainEqual(signed(1, 2));
    // A state that is not this extent's is ignored: the set is re-read from metad.
    await f.volume.write(3 * MiB, Buffer.alloc(4096, 1));
    expect(f.metaCalls.slice(1)).toEqual([`getExtentMap 3+1`]);
    expect(f.writes.slice(2)).toEqual(['s: 3@1', 'p: 3@5']);
    expect(await counts(f.metrics)).toEqual(['stale_epoch 2']);
  });
});
