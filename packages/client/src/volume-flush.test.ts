import { afterEach, describe, expect, it, vi } from 'vitest';
import { BasaltError, ErrorCode, limits } from '@basalt/stdx';
import { ExtentState, type DataConnection, type ExtentRef, type IoResult, type MetaClient, type pb } from '@basalt/wire';
import { ClientMetrics } from './client-metrics.js';
import type { ConnectionPool } from './connection-pool.js';
import { flushedEverywhere, Volume } from './volume.js';

/**
 * A flush sends a LOCAL FLUSH to every member of each dirty extent's set at once, and falls back
 * to the plain FLUSH through the primary (mutate(): epochs followed, the primary deciding about
 * members) when any member does not answer OK at the map's epoch.
 */
const MiB = 1 << 20;

type LocalFlush = (id: string, ref: ExtentRef) => Promise<IoResult> | undefined;

interface Fake {
  volume: Volume;
  /** Every FLUSH a server received: `id local@epoch` or `id plain@epoch`. */
  flushes: string[];
  /** Addresses the pool opened a connection to. */
  connected: string[];
  metrics: ClientMetrics;
  /** The set metad answers with from now on. */
  moveTo: (epoch: number, set: string[]) => void;
}

/**
 * Extent 0 of a 1 MiB volume on p (primary), s and r (rebuilding) at epoch 1. `local` overrides a
 * member's answer to a LOCAL flush (undefined: OK at the request's epoch); `plain` the primary's
 * to a plain one. The pool has a connection to the primary only until asked for another.
 */
function fake(o: { local?: LocalFlush; plain?: (ref: ExtentRef) => Promise<IoResult>; unreachable?: string } = {}): Fake {
  let epoch = 1;
  let set = ['p', 's', 'r'];
  const meta = {
    call: (method: string) => {
      expect(method).toBe('getExtentMap');
      const replicas = set.map((id) => ({ serverId: id, address: `${id}:1`, rebuilding: id === 'r' }));
      return Promise.resolve({ volumeId: 1, extentSizeBytes: MiB, generation: 1, extents: [{ index: 0, epoch, primary: set[0], replicas } satisfies pb.IExtent] });
    },
  } as unknown as MetaClient;
  const flushes: string[] = [];
  const ok = (ref: ExtentRef): Promise<IoResult> => Promise.resolve({ epoch: ref.epoch, version: 1, state: ExtentState.Active });
  const conn = (id: string): DataConnection =>
    ({
      write: (ref: ExtentRef) => ok(ref),
      flush: (ref: ExtentRef, options: { local?: boolean } = {}) => {
        flushes.push(`${id} ${options.local === true ? 'local' : 'plain'}@${ref.epoch}`);
        if (options.local === true) return o.local?.(id, ref) ?? ok(ref);
        return o.plain?.(ref) ?? ok(ref);
      },
    }) as unknown as DataConnection;
  const connected: string[] = [];
  const open = new Set(['p:1']);
  const pool = {
    ready: (address: string) => (open.has(address) ? conn(address.split(':')[0]!) : undefined),
    get: (address: string) => {
      connected.push(address);
      if (address === `${o.unreachable}:1`) return Promise.reject(new BasaltError(ErrorCode.Unavailable, `cannot connect to ${address}: ECONNREFUSED`));
      open.add(address);
      return Promise.resolve(conn(address.split(':')[0]!));
    },
  } as unknown as ConnectionPool;
  const metrics = new ClientMetrics();
  const volume = new Volume({ id: 1, name: 'v', sizeBytes: MiB, extentSizeBytes: MiB, replicationFactor: 3 }, { meta, pool, lease: { clientId: 'c', generation: 1 }, onEvent: () => undefined, metrics });
  return { volume, flushes, connected, metrics, moveTo: (e, s) => ((epoch = e), (set = s)) };
}

/** `reason count` of each series of the fallback counter. */
async function fallbacks(m: ClientMetrics): Promise<string[]> {
  const counter = m.registry.getSingleMetric('basalt_client_flush_fallbacks_total')!;
  return (await counter.get()).values.map((v) => `${v.labels.reason} ${v.value}`);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('a flush sent to every member directly', () => {
  it('reaches every member of the set once, rebuilding ones too, opening the connections it lacks, and nothing goes through the primary', async () => {
    const f = fake();
    await f.volume.write(0, Buffer.alloc(4096, 1));
    await f.volume.flush();
    expect(f.flushes).toEqual(['p local@1', 's local@1', 'r local@1']);
    expect(f.connected).toEqual(['s:1', 'r:1']);
    expect(await fallbacks(f.metrics)).toEqual([]);
    // Nothing was written since: the next flush has nothing to do.
    await f.volume.flush();
    expect(f.flushes).toHaveLength(3);
  });

  it('falls back to the primary when a member refuses, and succeeds there', async () => {
    const f = fake({ local: (id) => (id === 's' ? Promise.reject(new BasaltError(ErrorCode.LeaseFenced, 'refused')) : undefined) });
    await f.volume.write(0, Buffer.alloc(4096, 1));
    await f.volume.flush();
    expect(f.flushes).toEqual(['p local@1', 's local@1', 'r local@1', 'p plain@1']);
    expect(await fallbacks(f.metrics)).toEqual([`${ErrorCode.LeaseFenced} 1`]);
    // The extent is clean after it: a flush with no write since sends nothing.
    await f.volume.flush();
    expect(f.flushes).toHaveLength(4);
  });

  it('falls back when a member cannot be reached', async () => {
    const f = fake({ unreachable: 'r' });
    await f.volume.write(0, Buffer.alloc(4096, 1));
    await f.volume.flush();
    expect(f.flushes).toEqual(['p local@1', 's local@1', 'p plain@1']);
    expect(await fallbacks(f.metrics)).toEqual([`${ErrorCode.Unavailable} 1`]);
  });

  it('does not count an OK at another epoch (a server holding no replica answers at 0) as that member\'s flush', async () => {
    const f = fake({ local: (id) => (id === 'r' ? Promise.resolve({ epoch: 0, version: 0, state: ExtentState.Absent }) : undefined) });
    await f.volume.write(0, Buffer.alloc(4096, 1));
    await f.volume.flush();
    expect(f.flushes.at(-1)).toBe('p plain@1');
    expect(await fallbacks(f.metrics)).toEqual(['epoch 1']);
  });

  it('follows a primary that moved the set on: its refusal of the old epoch sends the flush down the primary path with the new set', async () => {
    const stale = (): Promise<IoResult> => Promise.reject(new BasaltError(ErrorCode.StaleEpoch, 'epoch 1 is older than 2'));
    const f = fake({ local: (id, ref) => (id === 'p' && ref.epoch === 1 ? stale() : undefined), plain: (ref) => (ref.epoch === 1 ? stale() : Promise.resolve({ epoch: 2, version: 1, state: ExtentState.Active })) });
    await f.volume.write(0, Buffer.alloc(4096, 1));
    f.moveTo(2, ['p', 's']);
    await f.volume.flush();
    // r (still at epoch 1, dropped without knowing it) accepted, which made nothing succeed.
    expect(f.flushes).toEqual(['p local@1', 's local@1', 'r local@1', 'p plain@1', 'p plain@2']);
    expect(await fallbacks(f.metrics)).toEqual([`${ErrorCode.StaleEpoch} 1`]);
  });

  it('waits for a silent member at most limits.chunkReplicaTimeoutMs, then goes through the primary', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const f = fake({ local: (id) => (id === 's' ? new Promise<IoResult>(() => undefined) : undefined) });
    await f.volume.write(0, Buffer.alloc(4096, 1));
    const flushed = f.volume.flush();
    await vi.advanceTimersByTimeAsync(limits.chunkReplicaTimeoutMs - 1);
    expect(f.flushes).toEqual(['p local@1', 's local@1', 'r local@1']);
    await vi.advanceTimersByTimeAsync(1);
    await flushed;
    expect(f.flushes.at(-1)).toBe('p plain@1');
    expect(await fallbacks(f.metrics)).toEqual(['wait 1']);
  });

  it('fails with the primary path\'s typed error, keeping the extent dirty for the next flush', async () => {
    let fenced = true;
    const f = fake({
      local: (id) => (id === 's' ? Promise.reject(new BasaltError(ErrorCode.LeaseFenced, 'a newer writer')) : undefined),
      plain: (ref) => (fenced ? Promise.reject(new BasaltError(ErrorCode.LeaseFenced, 'a newer writer')) : Promise.resolve({ epoch: ref.epoch, version: 1, state: ExtentState.Active })),
    });
    await f.volume.write(0, Buffer.alloc(4096, 1));
    await expect(f.volume.flush()).rejects.toMatchObject({ code: ErrorCode.LeaseFenced });
    fenced = false;
    await f.volume.flush();
    expect(f.flushes.filter((l) => l === 'p plain@1')).toHaveLength(2);
  });
});

describe('flushedEverywhere (the rule the SDK and the simulation share)', () => {
  it('counts a flush only with an OK at the map\'s epoch from every member of the set', () => {
    expect(flushedEverywhere([3, 3, 3], 3, 3)).toBe(true);
    expect(flushedEverywhere([3, 3], 3, 3), 'a member missing').toBe(false);
    expect(flushedEverywhere([3, 2, 3], 3, 3), 'a member at an older epoch').toBe(false);
    expect(flushedEverywhere([3, 0, 3], 3, 3), 'a server holding no replica').toBe(false);
  });
});
