/**
 * The NBD agent as a process (`basalt agent`) in front of a real cluster (3 metad, 3 chunk
 * servers, test/lib/cluster.ts), driven by Debian's clients: nbdinfo, nbdcopy, qemu-img, fio.
 * Volumes here are replicated Basalt volumes (2 replicas of 3 servers, so one chunk server
 * briefly marked down on a loaded machine does not fail first writes), not the file-backed ones
 * of the other NBD tests.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import { BasaltCluster } from './lib/cluster.js';
import { freePorts, ProcessScope, requireCommands, waitFor, waitForPort } from './lib/process.js';
import { run, runOk, sha256File, writeRandomFile } from './nbd-support.js';

const volumeBytes = 64 * MiB;

describe('NBD agent in front of a real cluster', () => {
  const scope = new ProcessScope();
  let cluster: BasaltCluster;
  const uri = (volume: string) => `nbd://${cluster.agentAddress}/${volume}`;

  beforeAll(async () => {
    requireCommands('nbdinfo', 'nbdcopy', 'qemu-img', 'fio');
    cluster = await BasaltCluster.start(scope, { agent: true });
    const client = cluster.client();
    for (const name of ['nbd-copy', 'nbd-fio', 'nbd-wb']) await client.createVolume(name, { sizeBytes: volumeBytes, extentSizeBytes: 4 * MiB, replicationFactor: 2 });
  }, 240_000);
  afterAll(async () => {
    cluster?.close();
    await scope.cleanup();
  });

  it('lists the volumes and describes them; a never-written volume maps as one hole', async () => {
    const list = JSON.parse((await runOk('nbdinfo', ['--list', '--json', `nbd://${cluster.agentAddress}`])).stdout);
    expect((list.exports as { 'export-name': string }[]).map((e) => e['export-name']).sort()).toEqual(['nbd-copy', 'nbd-fio', 'nbd-wb']);
    const info = JSON.parse((await runOk('nbdinfo', ['--json', uri('nbd-copy')])).stdout).exports[0];
    expect(info['export-size']).toBe(volumeBytes);
    expect(info.can_multi_conn).toBe(true);
    const map = JSON.parse((await runOk('nbdinfo', ['--map', '--json', uri('nbd-copy')])).stdout);
    expect(map).toEqual([expect.objectContaining({ offset: 0, length: volumeBytes, type: 3 })]);
  });

  it('nbdcopy moves 64 MiB in and out with equal checksums, and qemu-img compare agrees', async () => {
    const dir = scope.tempDir('nbd-cluster');
    const src = join(dir, 'src.raw');
    const out = join(dir, 'out.raw');
    writeRandomFile(src, volumeBytes, 99, [16, 17, 18, 19, 20, 21, 22, 23]);
    const copyIn = await run('nbdcopy', ['--connections=4', '--flush', src, uri('nbd-copy')], { timeoutMs: 240_000 });
    expect(copyIn.code, `${copyIn.stderr}\nagent log:\n${cluster.agent!.log().slice(-4000)}`).toBe(0);
    await runOk('nbdcopy', ['--connections=4', uri('nbd-copy'), out], { timeoutMs: 240_000 });
    expect(await sha256File(out)).toBe(await sha256File(src));
    const same = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, uri('nbd-copy')], { timeoutMs: 240_000 });
    expect(same.stdout + same.stderr).toContain('Images are identical');
  });

  it('fio verifies crc32c over random writes with flushes', async () => {
    const r = await runOk('fio', [
      '--name=verify', '--ioengine=nbd', `--uri=${uri('nbd-fio')}`, '--rw=randwrite', '--bs=4k', '--size=8M', '--iodepth=16',
      '--verify=crc32c', '--do_verify=1', '--verify_fatal=1', '--verify_state_save=0', '--fsync=64', '--randrepeat=1', '--output-format=json',
    ], { timeoutMs: 240_000 });
    const job = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).jobs[0];
    expect(job.error).toBe(0);
    expect(job.read.io_bytes).toBe(8 * MiB);
  });

  it('an agent with --write-cache writeback acknowledges writes early, reads its own writes, and has stored everything once it stopped', async () => {
    const [port, metricsPort] = await freePorts(2);
    const wb = scope.spawnCli('agent-wb', ['agent', '--metad', cluster.metaEndpoints.join(','), '--listen', `127.0.0.1:${port}`, '--metrics-port', String(metricsPort), '--write-cache', 'writeback']);
    await waitForPort(port!, { process: wb, timeoutMs: 60_000 });
    const wbUri = `nbd://127.0.0.1:${port}/nbd-wb`;
    // Writes without a flush, read back while they may still be cached.
    await runOk('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 0 1M', '-c', 'write -P 0xa5 512k 64k', '-c', 'read -P 0xa5 512k 64k', '-c', 'read -P 0x5a 0 512k', wbUri]);
    const dir = scope.tempDir('nbd-wb');
    const src = join(dir, 'src.raw');
    writeRandomFile(src, volumeBytes, 7, [1, 2, 3, 4, 5, 6, 7, 8]);
    // No --flush: closing the connections is what stores the last cached writes.
    await runOk('nbdcopy', ['--connections=4', src, wbUri], { timeoutMs: 240_000 });
    const same = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, wbUri], { timeoutMs: 240_000 });
    expect(same.stdout + same.stderr).toContain('Images are identical');
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^basalt_nbd_write_cache_bytes 0$/m);
    expect(metrics).not.toMatch(/^basalt_nbd_write_cache_failures_total/m);
    // Once the write-back agent stopped (which stores and flushes what it cached), the other agent reads the same bytes.
    wb.signal('SIGTERM');
    await wb.exited;
    const out = join(dir, 'out.raw');
    await runOk('nbdcopy', [uri('nbd-wb'), out], { timeoutMs: 240_000 });
    expect(await sha256File(out)).toBe(await sha256File(src));
  });

  it('a guest writing in order gets the next extent allocated before its writes get there, and it reads as a hole until written', async () => {
    const client = cluster.client();
    await client.createVolume('nbd-seq', { sizeBytes: 16 * MiB, extentSizeBytes: 4 * MiB, replicationFactor: 2 });
    // 1 MiB sequential writes over extent 0 only: the last ones are within half an extent of its end.
    await runOk('fio', ['--name=seq', '--ioengine=nbd', `--uri=${uri('nbd-seq')}`, '--rw=write', '--bs=1M', '--size=4M', '--iodepth=4', '--output-format=json'], { timeoutMs: 120_000 });
    await waitFor('extent 1 to be allocated ahead', async () => (await client.extentPlacements('nbd-seq')).some((e) => e.index === 1), { timeoutMs: 30_000, intervalMs: 250 });
    expect((await client.extentPlacements('nbd-seq')).map((e) => e.index).sort()).toEqual([0, 1]);
    const map = JSON.parse((await runOk('nbdinfo', ['--map', '--json', uri('nbd-seq')])).stdout) as { offset: number; length: number; type: number }[];
    const typeAt = (offset: number): number | undefined => map.find((e) => e.offset <= offset && offset < e.offset + e.length)?.type;
    expect(typeAt(0)).toBe(0);
    expect(typeAt(4 * MiB - 4096)).toBe(0);
    for (const offset of [4 * MiB, 6 * MiB, 8 * MiB - 4096, 12 * MiB]) expect(typeAt(offset), `${offset}`).toBe(3); // hole and zero
  });
});

