import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, MiB, Prng } from '@basalt/stdx';
import type { Volume } from '@basalt/client';
import { main } from '@basalt/cli';
import { captureIo } from '@basalt/cli/testing';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { pool, SEED } from './e2e-support.js';
import { serverVerb, startHealingCluster, waitForFullRedundancy } from './e2e-heal-support.js';
import { DataConnection, MetaClient } from '@basalt/wire';
import { blockPattern } from './lib/block-pattern.js';

/**
 * Snapshots, clones and diffs over real processes (metad, three chunk servers): a snapshot taken
 * under a running writer holds exactly the writes acknowledged before it; a clone reads as its
 * snapshot and diverges on its own; deleting the source's snapshot keeps the clone readable;
 * copy-on-write costs about the blocks changed on disk; a diff export imported elsewhere
 * reproduces the snapshot, incrementally too; rollback restores it.
 */
const { scope, keep } = clusterScope();
const extentSizeBytes = 4 * MiB;
const sizeBytes = 4 * extentSizeBytes;
const block = 4096;
const blocks = sizeBytes / block;

/** Bytes the files under dir take on disk (allocated blocks). */
function diskBytes(dir: string): number {
  let n = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) n += fs.statSync(path.join(entry.parentPath, entry.name)).blocks * 512;
  }
  return n;
}

async function readAll(v: Volume): Promise<Buffer> {
  return v.read(0, v.size);
}

describe('snapshots and clones', () => {
  it('snapshot under a writer, clones, deletes, copy-on-write space, diff export and import, rollback', { timeout: 300_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope));
    const admin = cluster.client();
    await admin.createVolume('src', { sizeBytes, extentSizeBytes, replicationFactor: 3 });
    const writer = await cluster.client().openVolume('src', { writer: true });

    // A writer writes distinct blocks, 8 at a time; the snapshot is taken in the middle of it.
    const prng = new Prng(SEED);
    const order = prng.shuffle(Array.from({ length: blocks / 2 }, (_, i) => i * 2));
    const ackedAt = new Map<number, number>();
    const issuedAt = new Map<number, number>();
    let clock = 0;
    let snapshotCalledAt = Infinity;
    let snapshotting: Promise<unknown> | undefined;
    await pool(order.length, 8, async (k) => {
      const b = order[k]!;
      if (k === 300) {
        snapshotCalledAt = ++clock;
        snapshotting = writer.snapshot('s1');
      }
      issuedAt.set(b, ++clock);
      await writer.write(b * block, blockPattern(b, 1));
      ackedAt.set(b, ++clock);
    });
    const s1 = await snapshotting;
    expect(s1).toMatchObject({ name: 's1', state: 'ready' });
    const snap = await admin.openSnapshot('src', 's1');
    const image = await readAll(snap);
    let before = 0;
    let after = 0;
    for (const b of order) {
      const got = image.subarray(b * block, (b + 1) * block);
      if (ackedAt.get(b)! < snapshotCalledAt) {
        before++;
        expect(got.equals(blockPattern(b, 1)), `block ${b}, acknowledged before the snapshot`).toBe(true);
      } else if (issuedAt.get(b)! > snapshotCalledAt) {
        after++;
        expect(got.equals(Buffer.alloc(block)), `block ${b}, issued after the snapshot`).toBe(true);
      }
    }
    expect(before).toBeGreaterThan(250);
    expect(after).toBeGreaterThan(100);
    await expect(writer.snapshot('s1')).rejects.toMatchObject({ code: ErrorCode.SnapshotExists });

    // A clone reads as the snapshot; its writes change neither the source nor the snapshot.
    await admin.cloneVolume('src', 's1', 'c1');
    const clone = await cluster.client().openVolume('c1', { writer: true });
    expect((await readAll(clone)).equals(image)).toBe(true);
    expect(await clone.allocation(0, sizeBytes), 'a clone never reports a hole its parent may fill').toEqual([{ offset: 0, length: sizeBytes, hole: false }]);
    const b0 = order[0]!;
    await clone.write(b0 * block + 100, Buffer.alloc(200, 0xee));
    const expectClone = Buffer.from(image);
    expectClone.fill(0xee, b0 * block + 100, b0 * block + 300);
    expect((await clone.read(b0 * block, block)).equals(expectClone.subarray(b0 * block, (b0 + 1) * block))).toBe(true);
    expect((await writer.read(b0 * block, block)).equals(blockPattern(b0, 1))).toBe(true);
    expect((await snap.read(b0 * block, block)).equals(blockPattern(b0, 1))).toBe(true);

    // Deleting the source's snapshot hides it while the clone reads through it.
    expect(await admin.deleteSnapshot('src', 's1')).toMatchObject({ removed: false, hidden: true });
    expect(await admin.listSnapshots('src')).toEqual([]);
    const again = await cluster.client().openVolume('c1');
    expect((await readAll(again)).equals(expectClone)).toBe(true);
    await again.close();
    await clone.close();
    await snap.close();

    // Copy-on-write: after a snapshot of a fully written volume, N random 4 KiB writes grow the
    // chunk servers' files by about N x 4 KiB per replica, not N extents.
    await pool(blocks, 16, (b) => writer.write(b * block, blockPattern(b, 2)));
    await writer.flush();
    await writer.snapshot('s2');
    const dirs = [0, 1, 2].map((i) => cluster.chunk(i).dataDir);
    const bytesBefore = dirs.reduce((n, d) => n + diskBytes(d), 0);
    const n = 64;
    const touched = prng.shuffle(Array.from({ length: blocks }, (_, i) => i)).slice(0, n);
    for (const b of touched) await writer.write(b * block, blockPattern(b, 3));
    await writer.flush();
    const grown = dirs.reduce((x, d) => x + diskBytes(d), 0) - bytesBefore;
    expect(grown, `${grown} bytes on disk for ${n} 4 KiB writes after a snapshot`).toBeLessThanOrEqual(3 * n * (block + 4096) + 3 * 256 * 1024);
    expect(grown).toBeLessThan(extentSizeBytes);
    const s2image = Buffer.concat(Array.from({ length: blocks }, (_, b) => blockPattern(b, 2)));
    const s2 = await admin.openSnapshot('src', 's2');
    expect((await readAll(s2)).equals(s2image)).toBe(true);
    await s2.close();

    // Diff export of s2 (full), then of s2..s3 (incremental), imported onto another volume.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-diff-'));
    await admin.createVolume('dst', { sizeBytes: extentSizeBytes, extentSizeBytes, replicationFactor: 3 });
    const full = await admin.exportDiff('src', { to: 's2', file: path.join(tmp, 'full') });
    expect(full.bytes).toBe(sizeBytes);
    expect(await admin.importDiff('dst', path.join(tmp, 'full'))).toMatchObject({ bytes: sizeBytes, snapshot: { name: 's2' } });
    await writer.writeZeroes(0, 64 * 1024);
    await writer.write(5 * block, blockPattern(5, 4));
    await writer.snapshot('s3');
    const inc = await admin.exportDiff('src', { from: 's2', to: 's3', file: path.join(tmp, 'inc') });
    expect(inc.bytes).toBe(new Set([...touched, ...Array.from({ length: 16 }, (_, i) => i)]).size * block);
    await admin.importDiff('dst', path.join(tmp, 'inc'));
    const dst = await cluster.client().openVolume('dst');
    const s3 = await admin.openSnapshot('src', 's3');
    expect((await readAll(dst)).equals(await readAll(s3))).toBe(true);
    await dst.close();
    await s3.close();
    // A damaged diff changes nothing.
    const bad = fs.readFileSync(path.join(tmp, 'inc'));
    bad.writeUInt8(bad.readUInt8(bad.length - 20) ^ 1, bad.length - 20);
    fs.writeFileSync(path.join(tmp, 'bad'), bad);
    await expect(admin.importDiff('dst', path.join(tmp, 'bad'))).rejects.toMatchObject({ code: ErrorCode.DiffInvalid });

    // Rollback to s2 rewrites what changed since.
    await writer.close();
    await admin.rollbackVolume('src', 's2');
    const head = await cluster.client().openVolume('src');
    expect((await readAll(head)).equals(s2image)).toBe(true);
    await head.close();

    // Deleting the clone frees the hidden snapshot; then the source can go.
    await expect(admin.deleteVolume('src')).rejects.toMatchObject({ code: ErrorCode.VolumeBusy });
    await admin.deleteVolume('c1');
    expect((await admin.listSnapshots('src', { includeHidden: true })).map((x) => x.name)).toEqual(['s2', 's3']);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the CLI: snapshot create, ls, diff --full and incremental, volume import --diff, clone, rollback, snapshot rm', { timeout: 300_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope));
    const metad = ['--metad', cluster.metaEndpoints.join(',')];
    const run = async (...argv: string[]): Promise<string> => {
      const io = captureIo();
      const code = await main([...argv, '--json', ...metad], io);
      expect(code, `basalt ${argv.join(' ')}: ${io.stderr}`).toBe(0);
      return io.stdout;
    };
    const admin = cluster.client();
    await admin.createVolume('a', { sizeBytes: extentSizeBytes, extentSizeBytes, replicationFactor: 3 });
    await admin.createVolume('b', { sizeBytes: extentSizeBytes, extentSizeBytes, replicationFactor: 3 });
    const w = await admin.openVolume('a', { writer: true });
    await w.write(0, Buffer.alloc(64 * 1024, 1));
    await w.close();
    expect(JSON.parse(await run('snapshot', 'create', 'a@one'))).toMatchObject({ name: 'one', state: 'ready', extents: 1 });
    const w2 = await admin.openVolume('a', { writer: true });
    await w2.write(8192, Buffer.alloc(4096, 2));
    await w2.close();
    await run('snapshot', 'create', 'a@two');
    expect((JSON.parse(await run('snapshot', 'ls', 'a')) as { name: string }[]).map((x) => x.name)).toEqual(['one', 'two']);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-cli-diff-'));
    expect(JSON.parse(await run('snapshot', 'diff', 'a@two', '--full', '--to', path.join(tmp, 'full')))).toMatchObject({ bytes: 64 * 1024 });
    expect(JSON.parse(await run('snapshot', 'diff', 'a@one', 'a@two', '--to', path.join(tmp, 'inc')))).toMatchObject({ bytes: 4096, records: 1 });
    await run('volume', 'import', 'b', '--diff', path.join(tmp, 'full'));
    const io = captureIo();
    expect(await main(['volume', 'import', 'b', '--diff', path.join(tmp, 'inc'), ...metad], io)).toBe(1);
    expect(io.stderr, 'an incremental diff whose base b does not hold').toContain('BASALT_DIFF_INVALID');
    await run('volume', 'clone', 'a@one', 'a1');
    const a1 = await admin.openVolume('a1');
    expect((await a1.read(8192, 4096)).equals(Buffer.alloc(4096, 1))).toBe(true);
    await a1.close();
    await run('volume', 'rollback', 'a@one');
    const a = await admin.openVolume('a');
    expect((await a.read(0, 64 * 1024)).equals(Buffer.alloc(64 * 1024, 1))).toBe(true);
    await a.close();
    expect(JSON.parse(await run('snapshot', 'rm', 'a@one'))).toMatchObject({ removed: false });
    // Flattening the clone copies what it shares, ends the read-through and frees the hidden snapshot.
    expect(JSON.parse(await run('volume', 'flatten', 'a1'))).toMatchObject({ bytes: 64 * 1024 });
    expect((await admin.getVolume('a1')).parent).toBeUndefined();
    expect((await admin.listSnapshots('a', { includeHidden: true })).map((x) => x.name)).toEqual(['two']);
    const flat = await admin.openVolume('a1');
    expect((await flat.read(0, 64 * 1024)).equals(Buffer.alloc(64 * 1024, 1))).toBe(true);
    await flat.close();
    expect(JSON.parse(await run('snapshot', 'rm', 'a@two'))).toMatchObject({ removed: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a replica rebuilt on another server holds every snapshot: marks and copy-on-write layers are copied', { timeout: 300_000 }, async () => {
    const cluster = keep(await startHealingCluster(scope, { chunkServers: 4, downOut: '1h' }));
    const admin = cluster.client();
    await admin.createVolume('r', { sizeBytes, extentSizeBytes, replicationFactor: 3 });
    const w = await admin.openVolume('r', { writer: true });
    const image = (round: number): Buffer[] => Array.from({ length: blocks }, (_, b) => blockPattern(b, round));
    await pool(blocks, 16, (b) => w.write(b * block, blockPattern(b, 1)));
    await w.snapshot('a');
    const prng = new Prng(SEED + 1);
    const touched = prng.shuffle(Array.from({ length: blocks }, (_, i) => i)).slice(0, 256);
    for (const b of touched) await w.write(b * block, blockPattern(b, 2));
    await w.snapshot('b');
    for (const b of touched.slice(0, 64)) await w.write(b * block, blockPattern(b, 3));
    await w.flush();
    const expectA = Buffer.concat(image(1));
    const expectB = Buffer.concat(image(1).map((x, b) => (touched.includes(b) ? blockPattern(b, 2) : x)));
    const before = await admin.extentPlacements('r');
    const victim = cluster.chunk(3);
    expect(before.some((e) => e.replicas.some((r) => r.serverId === victim.id))).toBe(true);
    await victim.kill();
    await cluster.waitForServers('down', { ids: [victim.id] });
    await serverVerb(cluster, 'out', victim.id);
    await waitForFullRedundancy(cluster, 'after the server went out');
    const snaps = await admin.listSnapshots('r');
    const after = await admin.extentPlacements('r');
    // A raw connection presents a capability, as the SDK does (docs/data-path.md, "Capabilities").
    const meta = new MetaClient({ endpoints: cluster.metaEndpoints });
    const map = await meta.call('getExtentMap', { volume: 'r', fromIndex: 0, count: after.length + 16 });
    meta.close();
    const capability = Buffer.from(map.capability);
    const signed = new Map(map.extents.map((x) => [Number(x.index), Buffer.from(x.signedState)]));
    let checked = 0;
    for (const e of after) {
      const old = new Set(before.find((x) => x.index === e.index)!.replicas.map((r) => r.serverId));
      const fresh = e.replicas.find((r) => !old.has(r.serverId));
      if (fresh === undefined) continue;
      const conn = await DataConnection.connect(fresh.address);
      const ref = { volumeId: snaps[0]!.volumeId, index: e.index, extentSizeBytes, epoch: e.epoch, generation: 0, replicas: e.replicas.map((r) => ({ serverId: r.serverId, address: r.address })), auth: [capability, signed.get(e.index)!] };
      const at = e.index * extentSizeBytes;
      for (const [snap, want] of [[snaps[0]!, expectA], [snaps[1]!, expectB]] as const) {
        const got = await conn.snapshotRead(ref, snap.id, 0, extentSizeBytes);
        expect(got.data.equals(want.subarray(at, at + extentSizeBytes)), `extent ${e.index} on ${fresh.serverId}, snapshot ${snap.name}`).toBe(true);
      }
      conn.close();
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
    await w.close();
  });

  it('an import refuses a diff that does not fit its target before writing anything: a target written since the base or never fresh, or holding the diff\'s snapshot already; an import cut short runs again', { timeout: 120_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope, { chunkServers: 1 }));
    const admin = cluster.client();
    const geometry = { sizeBytes: extentSizeBytes, extentSizeBytes, replicationFactor: 1 };
    const put = async (volume: string, b: number, round: number): Promise<void> => {
      const v = await admin.openVolume(volume, { writer: true });
      await v.write(b * block, blockPattern(b, round));
      await v.close();
    };
    const blockOf = async (volume: string, b: number): Promise<Buffer> => {
      const v = await admin.openVolume(volume);
      const data = await v.read(b * block, block);
      await v.close();
      return data;
    };
    await admin.createVolume('s', geometry);
    await put('s', 0, 1);
    await admin.createSnapshot('s', 'a');
    await put('s', 1, 2);
    await admin.createSnapshot('s', 'b');
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-diff-fit-'));
    const full = path.join(tmp, 'full');
    const inc = path.join(tmp, 'inc');
    await admin.exportDiff('s', { to: 'a', file: full });
    await admin.exportDiff('s', { from: 'a', to: 'b', file: inc });

    // A full diff writes only the blocks that hold data: over a written volume it would leave a mix.
    await admin.createVolume('used', geometry);
    await put('used', 3, 9);
    await expect(admin.importDiff('used', full)).rejects.toMatchObject({ code: ErrorCode.DiffInvalid, details: { reason: 'changed' } });
    expect((await blockOf('used', 0)).equals(Buffer.alloc(block)), 'nothing written').toBe(true);
    expect(await admin.listSnapshots('used')).toEqual([]);

    await admin.createVolume('t', geometry);
    await admin.importDiff('t', full);
    await expect(admin.importDiff('t', full)).rejects.toMatchObject({ code: ErrorCode.DiffInvalid, details: { reason: 'to' } });
    // Written since its base: refused, and the block the diff would write is untouched.
    await put('t', 5, 9);
    await expect(admin.importDiff('t', inc)).rejects.toMatchObject({ code: ErrorCode.DiffInvalid, details: { reason: 'changed' } });
    expect((await blockOf('t', 1)).equals(Buffer.alloc(block)), 'nothing written').toBe(true);
    await admin.rollbackVolume('t', 'a');
    // An import cut short after writing some of the diff's blocks applies when run again.
    await put('t', 1, 2);
    expect(await admin.importDiff('t', inc)).toMatchObject({ snapshot: { name: 'b' } });
    const [got, want] = [await admin.openVolume('t'), await admin.openSnapshot('s', 'b')];
    expect((await readAll(got)).equals(await readAll(want))).toBe(true);
    await got.close();
    await want.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});
