import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MiB, Prng } from '@basalt/stdx';
import { DataConnection, type ExtentRef, type ReplicaRef } from '@basalt/wire';
import { startChunkd, type Chunkd, type ChunkdOptions } from '../chunkd.js';
import type { ExtentPlacement, MetaLink, RepairTask, ServerReport, VolumeCensus } from '../server/meta-link.js';
import { extentPath } from '../store/extent-files.js';
import { layerPath } from '../store/snapshot-layer.js';

/**
 * Repair on chunk servers in this process, over real loopback sockets and real files. metad is a
 * fake MetaLink on the primary that hands out one repair task and records promotions and drops;
 * the rest (heartbeat -> ListRepairTasks -> STAMPS, COPY over the replicator's connections ->
 * PromoteReplica, and the scrubber) is chunkd's own wiring.
 */
const SEED = Number(process.env.SEED ?? 21);
const block = 4096;
const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

class FakeMetad implements MetaLink {
  task: RepairTask | undefined;
  /** Becomes the task once the current one is promoted (as metad's planner adds the next member). */
  next: RepairTask | undefined;
  /** Heartbeat interval asked for while a task is listed (the default: 200 ms always). */
  intervalWhileTaskMs = 200;
  readonly promoted: { serverId: string; expectedEpoch: number }[] = [];
  readonly dropped: { serverId: string; reason: string | undefined }[] = [];
  lastReport: ServerReport | undefined;

  register(): Promise<void> {
    return Promise.resolve();
  }
  heartbeat(report: ServerReport): Promise<number> {
    this.lastReport = report;
    return Promise.resolve(this.task === undefined ? 200 : this.intervalWhileTaskMs);
  }
  repairTasks(): Promise<RepairTask[]> {
    return Promise.resolve(this.task === undefined ? [] : [this.task]);
  }
  promoteReplica(_v: number, _i: number, serverId: string, expectedEpoch: number): Promise<ExtentPlacement> {
    this.promoted.push({ serverId, expectedEpoch });
    const t = this.task!;
    this.task = this.next;
    this.next = undefined;
    // The same epoch: the tests' writes at the task's epoch keep being accepted after the promotion.
    return Promise.resolve({ epoch: t.epoch, replicas: t.members.map((m) => ({ serverId: m.serverId, address: m.address })) });
  }
  dropReplica(_v: number, _i: number, serverId: string, expectedEpoch: number, reason?: string): Promise<ExtentPlacement> {
    this.dropped.push({ serverId, reason });
    const t = this.task!;
    this.task = undefined;
    return Promise.resolve({ epoch: expectedEpoch + 1, replicas: t.members.filter((m) => m.serverId !== serverId) });
  }
  placement(): Promise<ExtentPlacement | undefined> {
    return Promise.resolve(undefined);
  }
  census(): Promise<VolumeCensus> {
    return Promise.reject(new Error('not in this test'));
  }
  snapshotIds(): Promise<ReadonlySet<number>> {
    return Promise.reject(new Error('not in this test'));
  }
  close(): void {}
}

async function server(i: number, extra: Partial<ChunkdOptions> = {}): Promise<Chunkd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-repair-'));
  cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const c = await startChunkd({ id: `cs${i}`, zone: `z${i}`, dataDir: dir, listen: '127.0.0.1:0', replicaTimeoutMs: 5_000, reclaimIntervalMs: 0, ...extra });
  cleanup.push(() => c.close());
  return c;
}

async function connect(c: Chunkd): Promise<DataConnection> {
  const conn = await DataConnection.connect(c.address);
  cleanup.push(() => conn.close());
  return conn;
}

const size = 8 * MiB;

function ext(epoch: number, replicas: ReplicaRef[]): ExtentRef {
  return { volumeId: 5, index: 0, extentSizeBytes: size, epoch, generation: 1, replicas };
}

function ref(c: Chunkd, rebuilding = false): ReplicaRef {
  return rebuilding ? { serverId: c.id, address: c.address, rebuilding: true } : { serverId: c.id, address: c.address };
}

/** Random writes of whole or partial blocks; returns the blocks they touched. */
async function writeRandom(conn: DataConnection, e: ExtentRef, model: Buffer, prng: Prng, count: number): Promise<Set<number>> {
  const touched = new Set<number>();
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const len = prng.int(1, 3 * block);
    const off = prng.int(0, size - len);
    const data = Buffer.from(prng.fill(new Uint8Array(len)));
    data.copy(model, off);
    for (let b = Math.floor(off / block); b * block < off + len; b++) touched.add(b);
    writes.push(conn.write(e, off, data));
  }
  await Promise.all(writes);
  return touched;
}

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function metric(c: Chunkd, name: string, labels: Record<string, string>): Promise<number> {
  const m = await c.metrics.registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, want]) => x.labels[k] === want));
  return v?.value ?? 0;
}

async function readAll(c: Chunkd, e: ExtentRef): Promise<Buffer> {
  return (await (await connect(c)).read(e, 0, size)).data;
}

describe('rebuild executor (in process)', () => {
  it('rebuilds an extent to an empty member, which then reads back equal', async () => {
    const meta = new FakeMetad();
    const cs = [await server(0, { link: meta, repairBandwidthBytesPerSec: 0 }), await server(1), await server(2)];
    const primary = await connect(cs[0]!);
    const model = Buffer.alloc(size);
    const touched = await writeRandom(primary, ext(1, [ref(cs[0]!), ref(cs[1]!)]), model, new Prng(SEED), 200);
    meta.task = { volumeId: 5, index: 0, extentSizeBytes: size, epoch: 2, members: [ref(cs[0]!), ref(cs[1]!), ref(cs[2]!, true)] };
    await until('the promotion', () => meta.promoted.length > 0);
    expect(meta.promoted).toEqual([{ serverId: 'cs2', expectedEpoch: 2 }]);
    expect(meta.dropped).toEqual([]);
    // Nothing but the copy wrote to cs2: its only durability request is the copy's FLUSH before the promotion.
    expect(cs[2]!.store.syncStats.requests).toBeGreaterThan(0);
    expect(await metric(cs[0]!, 'basalt_chunk_repair_bytes_total', { kind: 'rebuild', what: 'copied' })).toBe(touched.size * block);
    expect(await metric(cs[0]!, 'basalt_chunk_repair_bytes_total', { kind: 'rebuild', what: 'compared' })).toBe(size);
    await until('a heartbeat after the copy', () => meta.lastReport?.repair?.copiesRunning === 0 && meta.lastReport.repair.bytesCopied > 0);
    expect(meta.lastReport!.repair).toMatchObject({ copiesRunning: 0, bytesLeft: 0, bytesCopied: touched.size * block });
    const after = ext(3, [ref(cs[0]!), ref(cs[1]!), ref(cs[2]!)]);
    expect(Buffer.compare(await readAll(cs[2]!, after), model)).toBe(0);
  });

  it('catches up a returning member by copying only the blocks written while it was away', async () => {
    const meta = new FakeMetad();
    const cs = [await server(0, { link: meta, repairBandwidthBytesPerSec: 0 }), await server(1), await server(2)];
    const primary = await connect(cs[0]!);
    const model = Buffer.alloc(size);
    const prng = new Prng(SEED + 1);
    await writeRandom(primary, ext(1, [ref(cs[0]!), ref(cs[1]!), ref(cs[2]!)]), model, prng, 300);
    // cs2 leaves the set (epoch 2) and misses these writes.
    const away = await writeRandom(primary, ext(2, [ref(cs[0]!), ref(cs[1]!)]), model, prng, 20);
    meta.task = { volumeId: 5, index: 0, extentSizeBytes: size, epoch: 3, members: [ref(cs[0]!), ref(cs[1]!), ref(cs[2]!, true)] };
    await until('the promotion', () => meta.promoted.length > 0);
    expect(await metric(cs[0]!, 'basalt_chunk_repair_bytes_total', { kind: 'catchup', what: 'copied' })).toBe(away.size * block);
    expect(away.size * block).toBeLessThan(size / 10);
    expect(Buffer.compare(await readAll(cs[2]!, ext(4, [ref(cs[0]!), ref(cs[1]!), ref(cs[2]!)])), model)).toBe(0);
  });

  it('counts a new member that got forwarded writes before its copy started as a rebuild, not a catch-up', async () => {
    const meta = new FakeMetad();
    const cs = [await server(0, { link: meta, repairBandwidthBytesPerSec: 0 }), await server(1), await server(2)];
    const primary = await connect(cs[0]!);
    const model = Buffer.alloc(size);
    const prng = new Prng(SEED + 5);
    await writeRandom(primary, ext(1, [ref(cs[0]!), ref(cs[1]!)]), model, prng, 100);
    // Writes at the epoch that adds cs2 reach it before the primary is handed the task.
    const during = ext(2, [ref(cs[0]!), ref(cs[1]!), ref(cs[2]!, true)]);
    await writeRandom(primary, during, model, prng, 20);
    meta.task = { volumeId: 5, index: 0, extentSizeBytes: size, epoch: 2, members: during.replicas };
    await until('the promotion', () => meta.promoted.length > 0);
    expect(await metric(cs[0]!, 'basalt_chunk_repair_bytes_total', { kind: 'rebuild', what: 'compared' })).toBe(size);
    expect(await metric(cs[0]!, 'basalt_chunk_repair_bytes_total', { kind: 'catchup', what: 'compared' })).toBe(0);
    expect(Buffer.compare(await readAll(cs[2]!, ext(3, [ref(cs[0]!), ref(cs[1]!), ref(cs[2]!)])), model)).toBe(0);
  });

  it('starts the next task metad lists after a promotion without waiting for a heartbeat', async () => {
    const meta = new FakeMetad();
    meta.intervalWhileTaskMs = 3_600_000;
    const cs = [await server(0, { link: meta, repairBandwidthBytesPerSec: 0 }), await server(1), await server(2), await server(3)];
    const primary = await connect(cs[0]!);
    await writeRandom(primary, ext(1, [ref(cs[0]!), ref(cs[1]!)]), Buffer.alloc(size), new Prng(SEED + 6), 50);
    meta.next = { volumeId: 5, index: 0, extentSizeBytes: size, epoch: 3, members: [ref(cs[0]!), ref(cs[1]!), ref(cs[2]!), ref(cs[3]!, true)] };
    meta.task = { volumeId: 5, index: 0, extentSizeBytes: size, epoch: 2, members: [ref(cs[0]!), ref(cs[1]!), ref(cs[2]!, true)] };
    // The heartbeat that sees the first task asks for the next one in an hour: only the executor's own polls find the second.
    await until('both promotions', () => meta.promoted.length === 2);
    expect(meta.promoted).toEqual([{ serverId: 'cs2', expectedEpoch: 2 }, { serverId: 'cs3', expectedEpoch: 3 }]);
  });

  it('a copy racing with foreground writes to the rebuilding member never loses a newer write', async () => {
    const meta = new FakeMetad();
    // A slow budget (1 MiB/s after a 4 MiB burst) keeps the copy of 8 MiB running while the writes arrive.
    const cs = [await server(0, { link: meta, repairBandwidthBytesPerSec: 1 * MiB }), await server(1), await server(2)];
    const primary = await connect(cs[0]!);
    const model = Buffer.alloc(size);
    const prng = new Prng(SEED + 2);
    // Every block written, so the rebuild copies the whole extent.
    const fill = Buffer.from(prng.fill(new Uint8Array(size)));
    fill.copy(model);
    await primary.write(ext(1, [ref(cs[0]!), ref(cs[1]!)]), 0, fill);
    const during = ext(2, [ref(cs[0]!), ref(cs[1]!), ref(cs[2]!, true)]);
    meta.task = { volumeId: 5, index: 0, extentSizeBytes: size, epoch: 2, members: during.replicas };
    await until('the copy to start', () => cs[0]!.store.get(5, 0)?.epoch === 2);
    let rounds = 0;
    while (meta.promoted.length === 0 && rounds < 400) {
      await writeRandom(primary, during, model, prng, 5);
      rounds++;
    }
    await until('the promotion', () => meta.promoted.length > 0);
    expect(rounds).toBeGreaterThan(1); // writes went on while the copy ran
    const after = ext(3, [ref(cs[0]!), ref(cs[1]!), ref(cs[2]!)]);
    for (const c of cs) expect(Buffer.compare(await readAll(c, after), model), c.id).toBe(0);
  });

  it('reports a member that stops answering during the copy as unreachable (metad keeps its older copy in mind)', async () => {
    const meta = new FakeMetad();
    const cs = [await server(0, { link: meta, repairBandwidthBytesPerSec: 0 }), await server(1)];
    const primary = await connect(cs[0]!);
    await writeRandom(primary, ext(1, [ref(cs[0]!)]), Buffer.alloc(size), new Prng(SEED + 3), 50);
    await cs[1]!.close();
    meta.task = { volumeId: 5, index: 0, extentSizeBytes: size, epoch: 2, members: [ref(cs[0]!), ref(cs[1]!, true)] };
    await until('the drop', () => meta.dropped.length > 0);
    expect(meta.dropped).toEqual([{ serverId: 'cs1', reason: 'unreachable' }]);
    expect(meta.promoted).toEqual([]);
  });
});

describe('scrubber (in process)', () => {
  it('finds a flipped bit in an extent file on disk and repairs it from another member, on the primary and on a secondary', async () => {
    const cs = [await server(0, { scrubIntervalMs: 200 }), await server(1, { scrubIntervalMs: 200 })];
    const primary = await connect(cs[0]!);
    const model = Buffer.alloc(size);
    const e = ext(1, [ref(cs[0]!), ref(cs[1]!)]);
    const data = Buffer.from(new Prng(SEED + 4).fill(new Uint8Array(size)));
    data.copy(model);
    await primary.write(e, 0, data);
    await primary.flush(e);
    const flips = [
      { c: cs[0]!, at: 123 * block + 17 },
      { c: cs[1]!, at: 777 * block + 4000 },
    ];
    for (const f of flips) {
      const fd = fs.openSync(extentPath(f.c.store.dir, 5, 0), 'r+');
      const b = Buffer.alloc(1);
      fs.readSync(fd, b, 0, 1, f.at);
      b[0] = b[0]! ^ 0x10;
      fs.writeSync(fd, b, 0, 1, f.at);
      fs.closeSync(fd);
    }
    await until('both repairs', () => cs.every((c) => c.scrubber!.repairedBlocks >= 1));
    const passes = cs.map((c) => c.scrubber!.facts().lastPassMs);
    await until('a pass after the repairs', () => cs.every((c, i) => c.scrubber!.facts().lastPassMs > passes[i]!));
    expect(cs.map((c) => c.scrubber!.facts().repairedBlocks)).toEqual([1, 1]);
    expect(cs.map((c) => c.scrubber!.unrepairableBlocks)).toEqual([0, 0]);
    for (const c of cs) expect(Buffer.compare(await readAll(c, e), model), c.id).toBe(0);
    expect(await metric(cs[1]!, 'basalt_chunk_scrub_blocks_total', { result: 'repaired' })).toBe(1);
  });

  it('finds a flipped bit in a snapshot layer and rewrites the record from another member', async () => {
    const cs = [await server(0, { scrubIntervalMs: 200 }), await server(1, { scrubIntervalMs: 200 })];
    const primary = await connect(cs[0]!);
    const e = ext(1, [ref(cs[0]!), ref(cs[1]!)]);
    const before = Buffer.from(new Prng(SEED + 5).fill(new Uint8Array(4 * block)));
    await primary.write(e, 0, before);
    await primary.snapshot(e, 1);
    await primary.write(e, 0, Buffer.alloc(4 * block, 0xee));
    await primary.flush(e);
    // The secondary's layer holds the four preserved blocks; damage the first one's data.
    const file = layerPath(cs[1]!.store.dir, 5, 0, 1);
    const fd = fs.openSync(file, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, 24 + 100);
    b[0] = b[0]! ^ 0x10;
    fs.writeSync(fd, b, 0, 1, 24 + 100);
    fs.closeSync(fd);
    await until('the layer repair', () => cs[1]!.scrubber!.repairedBlocks >= 1);
    expect(cs.map((c) => c.scrubber!.unrepairableBlocks)).toEqual([0, 0]);
    const secondary = await connect(cs[1]!);
    expect((await secondary.snapshotRead(e, 1, 0, 4 * block)).data.equals(before)).toBe(true);
  });

  it('the primary finds a member that silently missed writes and sends it the newer blocks', async () => {
    const cs = [await server(0, { scrubIntervalMs: 200 }), await server(1, { scrubIntervalMs: 3_600_000 })];
    const primary = await connect(cs[0]!);
    const model = Buffer.alloc(size);
    const prng = new Prng(SEED + 5);
    await writeRandom(primary, ext(1, [ref(cs[0]!), ref(cs[1]!)]), model, prng, 100);
    // Writes that only the primary applies (a set without cs1), then a set with cs1 again: cs1 never heard of them.
    const missed = await writeRandom(primary, ext(2, [ref(cs[0]!)]), model, prng, 10);
    const e = ext(3, [ref(cs[0]!), ref(cs[1]!)]);
    await primary.info(e);
    await until('the missed blocks repaired', () => cs[0]!.scrubber!.repairedBlocks >= missed.size);
    expect(cs[0]!.scrubber!.repairedBlocks).toBe(missed.size);
    expect(cs[0]!.scrubber!.unrepairableBlocks).toBe(0);
    expect(Buffer.compare(await readAll(cs[1]!, e), model)).toBe(0);
  });
});
