import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cmd } from '@basalt/agent/protocol';
import { extentPath } from '@basalt/chunk';
import { ErrorCode, KiB, MiB, Prng } from '@basalt/stdx';
import { FileKeyProvider, type KeyProvider } from '@basalt/client';
import { main } from '@basalt/cli';
import { captureIo } from '@basalt/cli/testing';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { RawNbd } from './nbd-raw-client.js';
import { expectVolumeEquals } from './e2e-support.js';

/**
 * Encryption at rest over real processes (docs/security.md): what is written through
 * an encrypted volume (by the SDK, aligned and not, across blocks and extents, trims and zeroes of
 * parts of blocks, and through the NBD agent) reads back byte for byte, while no file under any
 * chunk server's data dir holds a known plaintext marker; the same writes to a plaintext volume
 * leave the marker in its extent files (the search finds what is there). A client with the wrong
 * KEK, or none, is refused at open with a typed error before it takes the writer lease: nothing
 * changes on disk. A clone of an encrypted volume's snapshot shares the volume's data key: it reads
 * as the snapshot, keeps its own (encrypted) writes, and survives its snapshot's delete, a diff
 * export and a flatten; no file of the source or the clone holds the marker.
 */
const { scope, keep } = clusterScope();
const extentSizeBytes = 4 * MiB;
const sizeBytes = 2 * extentSizeBytes;
const SEED = 15_006;
const marker = Buffer.from('BASALT-KNOWN-PLAINTEXT-MARKER');

/** `length` bytes of the marker repeated, starting `phase` bytes into it. */
function pattern(length: number, phase = 0): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = marker[(i + phase) % marker.length]!;
  return out;
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Files under the chunk servers' data dirs that contain the marker, and how many bytes were searched. */
function markerFiles(cluster: BasaltCluster): { found: string[]; searchedBytes: number } {
  const found: string[] = [];
  let searchedBytes = 0;
  for (const c of cluster.chunks) {
    for (const file of filesUnder(c.dataDir)) {
      const bytes = readFileSync(file);
      searchedBytes += bytes.length;
      if (bytes.includes(marker)) found.push(file);
    }
  }
  return { found, searchedBytes };
}

/** Files of a volume (extents and snapshot layers) under every chunk server's data dir that contain the marker, and how many files were searched. */
function markerFilesOf(cluster: BasaltCluster, volumeId: number): { found: string[]; searched: number } {
  const files = cluster.chunks.map((c) => dirname(extentPath(c.dataDir, volumeId, 0))).filter(existsSync).flatMap(filesUnder);
  return { found: files.filter((f) => readFileSync(f).includes(marker)), searched: files.length };
}

/** The bytes of every extent file of a volume, for a before/after comparison. */
function extentBytes(cluster: BasaltCluster, volumeId: number): string[] {
  return cluster.chunks.flatMap((c) => [0, 1].map((i) => extentPath(c.dataDir, volumeId, i)).filter(existsSync).map((p) => readFileSync(p).toString('base64')));
}

function kekFile(dir: string, name: string, seed: number): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.from(new Prng(seed).fill(new Uint8Array(32))).toString('hex'), { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

describe('encryption at rest', () => {
  const dir = scope.tempDir('basalt-kek');
  const kek = kekFile(dir, 'kek', 1);
  let cluster: BasaltCluster;

  it('stores none of the plaintext written through an encrypted volume and reads it back byte for byte; a plaintext volume is unchanged', { timeout: 300_000 }, async () => {
    cluster = keep(await BasaltCluster.start(scope, { agent: true, agentArgs: ['--kek-file', kek] }));
    const client = cluster.client({ keyProvider: new FileKeyProvider(kek) });
    const info = await client.createVolume('enc', { sizeBytes, extentSizeBytes, replicationFactor: 3, encrypt: true });
    expect(info.encryption).toMatchObject({ cipher: 'aes-256-xts', keyId: expect.stringMatching(/^file:[0-9a-f]{16}$/) as string });
    expect((await client.getVolume('enc')).encryption?.keyId).toBe(info.encryption?.keyId);
    await client.createVolume('plain', { sizeBytes, extentSizeBytes, replicationFactor: 3 });

    const model = Buffer.alloc(sizeBytes);
    const prng = new Prng(SEED);
    for (const name of ['enc', 'plain']) {
      const volume = await client.openVolume(name, { writer: true });
      const write = async (offset: number, data: Buffer): Promise<void> => {
        await volume.write(offset, data);
        if (name === 'enc') data.copy(model, offset);
      };
      await write(0, pattern(64 * KiB)); // whole blocks
      await write(extentSizeBytes - 1000, pattern(10_000, 3)); // parts of blocks, across the extent boundary
      await write(200 * KiB + 7, pattern(100, 5)); // inside one block
      await write(300 * KiB + 4000, pattern(200, 7)); // the end of one block and the start of the next
      for (let i = 0; i < 40; i++) {
        const length = prng.int(1, 9000);
        await write(prng.int(0, sizeBytes - length), pattern(length, prng.int(0, marker.length)));
      }
      // Zeroing parts of blocks rewrites them encrypted; whole blocks are zeroed on the chunk servers.
      await volume.trim(10 * KiB + 5, 20 * KiB);
      await volume.writeZeroes(40 * KiB + 1, 100);
      if (name === 'enc') {
        model.fill(0, 10 * KiB + 5, 30 * KiB + 5);
        model.fill(0, 40 * KiB + 1, 40 * KiB + 101);
      }
      await volume.flush();
      if (name === 'enc') {
        await expectVolumeEquals(volume, model, 'encrypted volume');
        expect((await volume.read(12 * KiB, 8 * KiB)).equals(Buffer.alloc(8 * KiB))).toBe(true);
        // Never-written space (chunk servers hold zeroes or nothing there) reads as zeroes, not decrypted noise.
        expect((await volume.read(6 * MiB, 64 * KiB)).equals(Buffer.alloc(64 * KiB))).toBe(true);
      }
      await volume.close();
    }

    const encId = info.id;
    const plainId = (await client.getVolume('plain')).id;
    for (const c of cluster.chunks) for (const index of [0, 1]) expect(existsSync(extentPath(c.dataDir, encId, index)), `${c.id} extent ${index}`).toBe(true);
    const { found, searchedBytes } = markerFiles(cluster);
    expect(searchedBytes).toBeGreaterThan(2 * 3 * 64 * KiB);
    expect(found.length).toBeGreaterThan(0);
    const plainDirs = cluster.chunks.map((c) => dirname(extentPath(c.dataDir, plainId, 0)) + sep);
    expect(found.filter((f) => !plainDirs.some((d) => f.startsWith(d))), 'files with the marker outside the plaintext volume').toEqual([]);
    for (const c of cluster.chunks) {
      expect(readFileSync(extentPath(c.dataDir, plainId, 0)).includes(marker)).toBe(true);
      expect(readFileSync(extentPath(c.dataDir, encId, 0)).includes(marker)).toBe(false);
      expect(readFileSync(extentPath(c.dataDir, encId, 1)).includes(marker)).toBe(false);
    }
  });

  it('keeps every one of many concurrent writes to different bytes of the same blocks (each rewrites its whole block)', { timeout: 60_000 }, async () => {
    const volume = await cluster.client({ keyProvider: new FileKeyProvider(kek) }).openVolume('enc', { writer: true });
    try {
      const base = 7 * MiB;
      const expected = Buffer.from(await volume.read(base, 8 * KiB));
      // 64 writes of 100 bytes, 128 bytes apart, over two blocks, all in flight at once.
      await Promise.all(Array.from({ length: 64 }, (_, i) => {
        const data = pattern(100, i);
        data.copy(expected, i * 128);
        return volume.write(base + i * 128, data);
      }));
      expect((await volume.read(base, 8 * KiB)).equals(expected)).toBe(true);
    } finally {
      await volume.close();
    }
  });

  it('refuses a client with another KEK, a KEK that does not unwrap, or none, at open and before the lease: nothing is written', { timeout: 120_000 }, async () => {
    const before = extentBytes(cluster, (await cluster.client().getVolume('enc')).id);
    const generation = (await cluster.client().getVolume('enc')).generation;
    const other = new FileKeyProvider(kekFile(dir, 'other', 2));
    await expect(cluster.client({ keyProvider: other }).openVolume('enc', { writer: true })).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable });
    // A provider that claims the volume's key id but holds another KEK: authentication fails.
    const keyId = (await cluster.client().getVolume('enc')).encryption!.keyId;
    const liar: KeyProvider = { wrap: (k, c) => other.wrap(k, c), unwrap: async (w, c) => other.unwrap({ keyId: (await other.wrap(Buffer.alloc(64), c)).keyId, wrapped: w.wrapped }, c) };
    expect(keyId).not.toBe((await other.wrap(Buffer.alloc(64), { volumeId: 1, volumeName: 'x' })).keyId);
    await expect(cluster.client({ keyProvider: liar }).openVolume('enc', { writer: true })).rejects.toMatchObject({ code: ErrorCode.KeyMismatch });
    await expect(cluster.client().openVolume('enc', { writer: true })).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable });
    await expect(cluster.client().openVolume('enc')).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable });
    const open = kekFile(dir, 'open', 1);
    chmodSync(open, 0o644);
    await expect(cluster.client({ keyProvider: new FileKeyProvider(open) }).openVolume('enc', { writer: true })).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable });
    // No creation without a key provider either.
    await expect(cluster.client().createVolume('enc2', { sizeBytes, extentSizeBytes, encrypt: true })).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable });
    await expect(cluster.client().getVolume('enc2')).rejects.toMatchObject({ code: ErrorCode.VolumeNotFound });

    const after = await cluster.client().getVolume('enc');
    expect(after.generation).toBe(generation);
    expect(after.leaseHolder).toBe('');
    expect(extentBytes(cluster, after.id)).toEqual(before);

    // The SDK's default key provider: the KEK file BASALT_KEK_FILE names.
    process.env.BASALT_KEK_FILE = kek;
    try {
      const reader = await cluster.client().openVolume('enc');
      const keyed = await cluster.client({ keyProvider: new FileKeyProvider(kek) }).openVolume('enc');
      expect((await reader.read(0, 64 * KiB)).equals(await keyed.read(0, 64 * KiB))).toBe(true);
      expect((await reader.read(0, 64 * KiB)).includes(marker)).toBe(true);
      await reader.close();
      await keyed.close();
    } finally {
      delete process.env.BASALT_KEK_FILE;
    }
  });

  it('binds the data key to the id the volume gets, also when another volume takes the id it read first', { timeout: 60_000 }, async () => {
    const real = new FileKeyProvider(kek);
    const ids: number[] = [];
    const racing: KeyProvider = {
      wrap: async (dataKey, context) => {
        ids.push(context.volumeId);
        if (ids.length === 1) await cluster.client().createVolume('racer', { sizeBytes, extentSizeBytes });
        return real.wrap(dataKey, context);
      },
      unwrap: (wrapped, context) => real.unwrap(wrapped, context),
    };
    const client = cluster.client({ keyProvider: racing });
    const raced = await client.createVolume('raced', { sizeBytes, extentSizeBytes, encrypt: true });
    const racer = await client.getVolume('racer');
    expect(ids).toEqual([racer.id, racer.id + 1]);
    expect(raced.id).toBe(racer.id + 1);
    const volume = await client.openVolume('raced', { writer: true });
    await volume.write(5, pattern(100));
    expect((await volume.read(0, 105)).equals(Buffer.concat([Buffer.alloc(5), pattern(100)]))).toBe(true);
    await volume.close();
  });

  it('clones an encrypted volume\'s snapshot under its data key: the clone reads as the snapshot, stores no plaintext, keeps its writes from the source, and outlives the snapshot through a diff export and a flatten', { timeout: 180_000 }, async () => {
    const client = cluster.client({ keyProvider: new FileKeyProvider(kek) });
    const src = await client.createVolume('enc-src', { sizeBytes, extentSizeBytes, replicationFactor: 3, encrypt: true });
    const model = Buffer.alloc(sizeBytes);
    const head = await client.openVolume('enc-src', { writer: true });
    for (const [offset, data] of [[0, pattern(64 * KiB)], [extentSizeBytes - 1000, pattern(10_000, 3)], [200 * KiB + 7, pattern(100, 5)]] as const) {
      await head.write(offset, data);
      data.copy(model, offset);
    }
    await head.snapshot('s1');
    await head.write(0, Buffer.alloc(8 * KiB, 0x11)); // after the snapshot: the clone must not see it
    await head.close();

    // Without the KEK, or with another, no clone is made.
    const other = new FileKeyProvider(kekFile(dir, 'other-clone', 3));
    await expect(cluster.client().cloneVolume('enc-src', 's1', 'enc-clone')).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable });
    await expect(cluster.client({ keyProvider: other }).cloneVolume('enc-src', 's1', 'enc-clone')).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable });
    await expect(client.getVolume('enc-clone')).rejects.toMatchObject({ code: ErrorCode.VolumeNotFound });

    const info = await client.cloneVolume('enc-src', 's1', 'enc-clone');
    expect(info.id).not.toBe(src.id);
    expect(info.encryption).toMatchObject({ cipher: src.encryption!.cipher, keyId: src.encryption!.keyId, keyVolumeId: src.id });
    expect(Buffer.from(info.encryption!.wrappedKey).equals(Buffer.from(src.encryption!.wrappedKey))).toBe(true);
    const clone = await client.openVolume('enc-clone', { writer: true });
    await expectVolumeEquals(clone, model, 'the clone as the snapshot');
    const cloneModel = Buffer.from(model);
    for (const [offset, data] of [[30 * KiB + 3, pattern(5000, 13)], [extentSizeBytes + MiB, pattern(8 * KiB, 17)], [extentSizeBytes - 10, pattern(20, 19)]] as const) {
      await clone.write(offset, data);
      data.copy(cloneModel, offset);
    }
    await clone.flush();
    await expectVolumeEquals(clone, cloneModel, 'the clone after its writes');
    await clone.close();
    const snap = await client.openSnapshot('enc-src', 's1');
    await expectVolumeEquals(snap, model, 'the source snapshot after the clone\'s writes');
    await snap.close();
    const srcHead = await client.openVolume('enc-src');
    expect((await srcHead.read(0, 8 * KiB)).equals(Buffer.alloc(8 * KiB, 0x11))).toBe(true);
    expect((await srcHead.read(30 * KiB + 3, 5000)).equals(model.subarray(30 * KiB + 3, 30 * KiB + 5003))).toBe(true);
    await srcHead.close();

    // A client without the KEK, or with another, is refused at the clone's open: nothing is written.
    const before = extentBytes(cluster, info.id);
    expect(before.length).toBeGreaterThan(0);
    await expect(cluster.client().openVolume('enc-clone', { writer: true })).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable });
    await expect(cluster.client({ keyProvider: other }).openVolume('enc-clone', { writer: true })).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable });
    expect(extentBytes(cluster, info.id)).toEqual(before);
    expect((await client.getVolume('enc-clone')).leaseHolder).toBe('');

    // A diff of the clone (plaintext, as read through the SDK) imports into another encrypted volume.
    await client.createSnapshot('enc-clone', 'c1');
    const diff = join(dir, 'enc-clone.diff');
    await client.exportDiff('enc-clone', { to: 'c1', file: diff });
    await client.createVolume('enc-copy', { sizeBytes, extentSizeBytes, replicationFactor: 3, encrypt: true });
    await client.importDiff('enc-copy', diff);
    const copy = await client.openVolume('enc-copy');
    await expectVolumeEquals(copy, cloneModel, 'the diff of the clone imported');
    await copy.close();

    // The source snapshot's delete hides it while the clone reads through it; the flatten copies its ciphertext.
    expect((await client.deleteSnapshot('enc-src', 's1')).removed).toBe(false);
    const afterDelete = await client.openVolume('enc-clone');
    await expectVolumeEquals(afterDelete, cloneModel, 'the clone after its snapshot\'s delete');
    await afterDelete.close();
    const flat = await client.flattenVolume('enc-clone');
    expect(flat.volume.parent).toBeUndefined();
    expect(flat.bytes).toBeGreaterThan(0);
    const flattened = await client.openVolume('enc-clone');
    await expectVolumeEquals(flattened, cloneModel, 'the flattened clone');
    await flattened.close();
    for (const id of [src.id, info.id]) {
      const { found, searched } = markerFilesOf(cluster, id);
      expect(searched, `files of volume ${id}`).toBeGreaterThan(0);
      expect(found, `files of volume ${id} with the marker`).toEqual([]);
    }
  });

  it('works through the CLI and the NBD agent: writes of parts of blocks read back, and stay encrypted on disk', { timeout: 120_000 }, async () => {
    const io = captureIo();
    expect(await main(['volume', 'create', 'nbd-enc', '--size', `${sizeBytes}`, '--extent-size', `${extentSizeBytes}`, '--encrypt', '--kek-file', kek, '--json', '--metad', cluster.metaEndpoints.join(',')], io), io.stderr).toBe(0);
    const created = JSON.parse(io.stdout) as { id: number; encryption: { cipher: string; keyId: string } | null };
    expect(created.encryption?.cipher).toBe('aes-256-xts');

    const nbd = await RawNbd.connect(cluster.agentPort);
    await nbd.handshake();
    await nbd.go('nbd-enc');
    const data = pattern(5000, 11);
    nbd.request(Cmd.Write, 0, 1n, BigInt(MiB + 3), data.length, data);
    expect((await nbd.reply()).error).toBe(0);
    nbd.request(Cmd.Flush, 0, 2n, 0n, 0);
    expect((await nbd.reply()).error).toBe(0);
    nbd.request(Cmd.Read, 0, 3n, BigInt(MiB), 8 * KiB);
    const read = await nbd.reply();
    expect(read.error).toBe(0);
    expect(read.data.equals(Buffer.concat([Buffer.alloc(3), data, Buffer.alloc(8 * KiB - 3 - data.length)]))).toBe(true);
    nbd.destroy();

    for (const c of cluster.chunks) {
      const file = readFileSync(extentPath(c.dataDir, created.id, 0));
      expect(file.includes(marker)).toBe(false);
      expect(file.includes(data.subarray(0, 16))).toBe(false);
    }
  });
});
