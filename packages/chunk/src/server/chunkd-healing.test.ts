import { crc32c } from '@node-rs/crc32';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, limits, MiB } from '@basalt/stdx';
import { DataConnection, ExtentState, pieceCrcs, type BlockStamps, type ExtentRef, type ReplicaRef } from '@basalt/wire';
import { startChunkd, type Chunkd } from '../chunkd.js';
import { extentPath } from '../store/extent-files.js';

/** The healing side of the data path on real sockets and files: stamps, STAMPS, COPY and rebuilding members. */
const block = limits.checksumBlockBytes;
const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function servers(n: number): Promise<{ cs: Chunkd[]; dirs: string[] }> {
  const cs: Chunkd[] = [];
  const dirs: string[] = [];
  for (let i = 0; i < n; i++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'basalt-chunkd-heal-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const c = await startChunkd({ id: `cs${i}`, zone: `z${i}`, dataDir: dir, listen: '127.0.0.1:0', replicaTimeoutMs: 5_000 });
    cleanup.push(() => c.close());
    cs.push(c);
    dirs.push(dir);
  }
  return { cs, dirs };
}

async function connect(c: Chunkd): Promise<DataConnection> {
  const conn = await DataConnection.connect(c.address);
  cleanup.push(() => conn.close());
  return conn;
}

/** The set: cs[0] primary, the others active unless listed in `rebuilding`. */
function extentOn(cs: Chunkd[], epoch: number, rebuilding: string[] = []): ExtentRef {
  const replicas: ReplicaRef[] = cs.map((c) => (rebuilding.includes(c.id) ? { serverId: c.id, address: c.address, rebuilding: true } : { serverId: c.id, address: c.address }));
  return { volumeId: 4, index: 0, extentSizeBytes: 4 * MiB, epoch, generation: 1, replicas };
}

const pairs = (s: BlockStamps): [number, number][] => Array.from(s.epochs, (e, i) => [e, s.seqs[i]!]);
const one = (epoch: number, seq: number): BlockStamps => ({ epochs: Uint32Array.of(epoch), seqs: Uint32Array.of(seq) });

describe('chunkd healing data path (in process)', () => {
  it('stamps each write at the primary in arrival order and stores the same stamps on every member, rebuilding ones too', async () => {
    const { cs } = await servers(3);
    const ext = extentOn(cs, 3, ['cs2']);
    const primary = await connect(cs[0]!);
    await Promise.all([0, 1, 2, 1].map((b, i) => primary.write(ext, b * block, Buffer.alloc(block, i + 1))));
    await primary.trim(ext, 3 * block, block);
    const lists = await Promise.all(cs.map(async (c) => pairs(await (await connect(c)).stamps(ext, 0, 5 * block))));
    expect(lists[0]).toEqual([[3, 1], [3, 4], [3, 3], [3, 5], [0, 0]]);
    expect(lists[1]).toEqual(lists[0]);
    expect(lists[2]).toEqual(lists[0]);
  });

  it('refuses client reads on a rebuilding member as rebuilding, and says so in its replies', async () => {
    const { cs } = await servers(2);
    const ext = extentOn(cs, 2, ['cs1']);
    await (await connect(cs[0]!)).write(ext, 0, Buffer.alloc(block, 7));
    const member = await connect(cs[1]!);
    const err = await member.read(ext, 0, block).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.Unavailable, details: { answered: true } });
    expect(String((err as Error).message)).toMatch(/rebuilding/);
    expect((await member.info(ext)).state).toBe(ExtentState.Rebuilding);
    // Promoted (a new epoch lists it as active): it serves the reads.
    expect((await member.read(extentOn(cs, 3), 0, block)).data.every((b) => b === 7)).toBe(true);
  });

  it('applies COPY on a member by the stamp rule, never over a newer foreground write, and checks every CRC on arrival', async () => {
    const { cs } = await servers(2);
    const ext = extentOn(cs, 5, ['cs1']);
    const primary = await connect(cs[0]!);
    await primary.write(ext, block, Buffer.alloc(block, 1)); // (5, 1) on both: newer than anything copied below
    const toMember = await connect(cs[1]!);
    const data = Buffer.concat([Buffer.alloc(block, 8), Buffer.alloc(block, 9)]);
    const copied = await toMember.copy(ext, 0, data, pieceCrcs(0, data), { epochs: Uint32Array.of(4, 4), seqs: Uint32Array.of(2, 3) }, 5);
    expect(copied.applied).toBe(1);
    const bad = pieceCrcs(0, data);
    bad[1] = bad[1]! ^ 1;
    await expect(toMember.copy(ext, 0, data, bad, { epochs: Uint32Array.of(9, 9), seqs: Uint32Array.of(1, 1) }, 5)).rejects.toMatchObject({ code: ErrorCode.Checksum });
    const got = await (await connect(cs[1]!)).read(extentOn(cs, 6), 0, 2 * block);
    expect([got.data[0], got.data[block]]).toEqual([8, 1]);
    expect(pairs(await toMember.stamps(extentOn(cs, 6), 0, 2 * block))).toEqual([[4, 2], [5, 1]]);
  });

  it('refuses a COPY at an older epoch than the member holds (an old primary) and a COPY to the primary', async () => {
    const { cs } = await servers(2);
    const primary = await connect(cs[0]!);
    await primary.write(extentOn(cs, 4, ['cs1']), 0, Buffer.alloc(block, 1));
    const data = Buffer.alloc(block, 2);
    const member = await connect(cs[1]!);
    await expect(member.copy(extentOn(cs, 3, ['cs1']), 0, data, pieceCrcs(0, data), one(3, 1), 3)).rejects.toMatchObject({ code: ErrorCode.StaleEpoch });
    await expect(primary.copy(extentOn(cs, 4, ['cs1']), 0, data, pieceCrcs(0, data), one(4, 9), 4)).rejects.toMatchObject({ code: ErrorCode.Protocol });
  });

  it('reports a flipped bit through STAMPS with VERIFY, and (0, 0) with the zero CRC where a server holds nothing', async () => {
    const { cs, dirs } = await servers(1);
    const ext = extentOn(cs, 1);
    const conn = await connect(cs[0]!);
    await conn.write(ext, 0, Buffer.alloc(3 * block, 4));
    const fd = fs.openSync(extentPath(dirs[0]!, 4, 0), 'r+');
    fs.writeSync(fd, Buffer.from([5]), 0, 1, 2 * block + 9);
    fs.closeSync(fd);
    const plain = await conn.stamps(ext, 0, 3 * block);
    expect(plain.bad).toEqual([]);
    const verified = await conn.stamps(ext, 0, 3 * block, { verify: true });
    expect(verified.bad).toEqual([2]);
    expect(Array.from(verified.crcs.subarray(0, 2))).toEqual([crc32c(Buffer.alloc(block, 4)), crc32c(Buffer.alloc(block, 4))]);
    const elsewhere = { ...ext, index: 7 };
    const none = await conn.stamps(elsewhere, block, 2 * block, { verify: true });
    expect([pairs(none), Array.from(none.crcs), none.state]).toEqual([[[0, 0], [0, 0]], [crc32c(Buffer.alloc(block)), crc32c(Buffer.alloc(block))], ExtentState.Absent]);
  });
});
