/**
 * The agent against Debian's NBD clients (libnbd's nbdinfo/nbdcopy/nbdsh, qemu-img, qemu-io, fio).
 * Volumes are sparse files until the client SDK exists (test/nbd-support.ts); every client is a
 * real process talking NBD over loopback to the agent running in this process.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import { FileVolumeStore, qemuIoPatterns, run, runOk, sha256File, startAgent, tempDir, writeRandomFile } from './nbd-support.js';
import { requireCommands } from './lib/process.js';
import type { RunningAgent } from './nbd-support.js';

const volumeBytes = 64 * MiB;
const volumes = ['info', 'copy', 'qemu', 'qio', 'fio-rand', 'fio-seq', 'mapvol', 'convert', 'legacy'];

describe('NBD interop with Debian clients', () => {
  const tmp = tempDir('nbd-interop');
  const store = new FileVolumeStore(tmp.dir);
  let agent: RunningAgent;

  beforeAll(async () => {
    requireCommands('nbdinfo', 'nbdcopy', 'nbdsh', 'qemu-img', 'qemu-io', 'fio');
    for (const name of volumes) store.create(name, volumeBytes);
    agent = await startAgent({ provider: store.provider() });
  });

  afterAll(async () => {
    await agent?.stop();
    tmp.cleanup();
  });

  it('nbdinfo --json reports fixed newstyle, size, block sizes and every capability', async () => {
    const info = JSON.parse((await runOk('nbdinfo', ['--json', agent.uri('info')])).stdout);
    expect(info.protocol).toBe('newstyle-fixed');
    expect(info.TLS).toBe(false);
    expect(info.structured).toBe(true);
    const exp = info.exports[0];
    expect(exp['export-name']).toBe('info');
    expect(exp['export-size']).toBe(volumeBytes);
    expect(exp.is_read_only).toBe(false);
    for (const can of ['can_flush', 'can_fua', 'can_trim', 'can_zero', 'can_fast_zero', 'can_multi_conn', 'can_df', 'can_cache']) {
      expect(exp[can], can).toBe(true);
    }
    expect([exp.block_size_minimum, exp.block_size_preferred, exp.block_size_maximum]).toEqual([1, 4096, 32 * MiB]);
    expect(exp.contexts).toEqual(['base:allocation']);
  });

  it('nbdinfo --list shows one export per volume', async () => {
    const info = JSON.parse((await runOk('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${agent.port}`])).stdout);
    const names = (info.exports as { 'export-name': string }[]).map((e) => e['export-name']).sort();
    expect(names).toEqual([...volumes].sort());
  });

  it('nbdinfo --can answers yes for flush, fua, trim, zero, fast-zero, df, multi-conn, cache, structured-reply', async () => {
    for (const can of ['flush', 'fua', 'trim', 'zero', 'fast-zero', 'df', 'multi-conn', 'cache', 'structured-reply', 'write']) {
      const r = await run('nbdinfo', ['--can', can, agent.uri('info')]);
      expect(r.code, `--can ${can}: ${r.stderr}`).toBe(0);
    }
    const ro = await run('nbdinfo', ['--is', 'read-only', agent.uri('info')]);
    expect(ro.code).toBe(2); // nbdinfo: 2 means "false"
  });

  it('nbdinfo --map shows holes for never-written, trimmed and zeroed ranges', async () => {
    const uri = agent.uri('mapvol');
    await runOk('qemu-io', ['-f', 'raw', uri, '-c', 'write -P 0x11 1M 2M', '-c', 'write -P 0x22 8M 4M', '-c', 'discard 9M 1M', '-c', 'write -z -u 10M 1M']);
    const map = JSON.parse((await runOk('nbdinfo', ['--map', '--json', uri])).stdout) as { offset: number; length: number; type: number; description: string }[];
    const rows = map.map((m) => [m.offset / MiB, m.length / MiB, m.type]);
    // type 3 = hole,zero; 0 = data
    expect(rows).toEqual([[0, 1, 3], [1, 2, 0], [3, 5, 3], [8, 1, 0], [9, 2, 3], [11, 1, 0], [12, 52, 3]]);
    const total = (await runOk('nbdinfo', ['--map', '--totals', uri])).stdout;
    expect(total).toMatch(/^\s*4194304\s+6\.2%\s+0 data\n\s*62914560\s+93\.8%\s+3 hole,zero/);
  });

  it('nbdcopy copies 64 MiB in and out over multi-conn with equal checksums', async () => {
    const src = join(tmp.dir, 'src.raw');
    const out = join(tmp.dir, 'out.raw');
    writeRandomFile(src, volumeBytes, 7, [3, 4, 40]);
    await runOk('nbdcopy', ['--connections=4', '--requests=16', src, agent.uri('copy')]);
    await runOk('nbdcopy', ['--connections=4', '--requests=16', agent.uri('copy'), out]);
    expect(await sha256File(out)).toBe(await sha256File(src));
    // The agent's own file holds the same bytes: nothing was written anywhere else.
    expect(await sha256File(join(tmp.dir, 'copy.img'))).toBe(await sha256File(src));
  });

  it('qemu-img convert -n writes a volume and qemu-img compare finds it identical', async () => {
    const src = join(tmp.dir, 'convert-src.raw');
    writeRandomFile(src, volumeBytes, 11, [0, 1, 2, 63]);
    await runOk('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, agent.uri('convert')]);
    const same = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, agent.uri('convert')]);
    expect(same.code, same.stdout + same.stderr).toBe(0);
    expect(same.stdout).toContain('Images are identical');
    await runOk('qemu-io', ['-f', 'raw', agent.uri('convert'), '-c', 'write -P 0x5a 5M 4k']);
    const differ = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, agent.uri('convert')]);
    expect(differ.code).toBe(1);
    expect(differ.stdout).toContain('Content mismatch at offset 5242880');
  });

  it('qemu-io patterns survive FUA writes, flush, discard and write-zeroes', async () => {
    const r = await qemuIoPatterns(agent.uri('qio'));
    expect(r.stdout).not.toMatch(/fail|error/i);
    expect(r.reads).toBe(r.expectedReads);
    // Out of range: qemu-io refuses before sending; the agent's own EINVAL/ENOSPC are in the protocol tests.
  });

  // libnbd with handshake flags 0 behaves like old nbd-client builds: no NBD_FLAG_C_FIXED_NEWSTYLE,
  // straight to NBD_OPT_EXPORT_NAME. Flags 2 adds NO_ZEROES alone.
  for (const handshakeFlags of [0, 2]) {
    it(`a libnbd client with handshake flags ${handshakeFlags} (no fixed newstyle) writes, flushes and reads through the agent`, async () => {
      const offset = (1 + handshakeFlags) * MiB;
      const script = [
        `h.set_handshake_flags(${handshakeFlags})`,
        `h.set_export_name('legacy')`,
        `h.connect_tcp('127.0.0.1', '${agent.port}')`,
        `data = bytes((i * 7 + ${handshakeFlags}) % 251 for i in range(1 << 20))`,
        `h.pwrite(data, ${offset})`,
        'h.flush()',
        `assert h.pread(len(data), ${offset}) == data`,
        'print(h.get_protocol(), h.get_size(), h.get_structured_replies_negotiated(), h.can_flush(), h.can_trim())',
        'h.shutdown()',
      ].join('\n');
      const r = await runOk('nbdsh', ['-c', script]);
      expect(r.stdout.trim()).toBe(`newstyle ${volumeBytes} False True True`);
      const expected = Buffer.from(Array.from({ length: MiB }, (_, i) => (i * 7 + handshakeFlags) % 251));
      expect(readFileSync(join(tmp.dir, 'legacy.img')).subarray(offset, offset + MiB).equals(expected)).toBe(true);
    });
  }

  for (const rw of ['randwrite', 'write'] as const) {
    it(`fio's nbd engine verifies crc32c over ${rw === 'write' ? 'sequential' : 'random'} writes with flushes`, async () => {
      const volume = rw === 'write' ? 'fio-seq' : 'fio-rand';
      const r = await runOk('fio', [
        '--name=verify', '--ioengine=nbd', `--uri=${agent.uri(volume)}`, `--rw=${rw}`, '--bs=4k', '--size=16M',
        '--iodepth=16', '--verify=crc32c', '--do_verify=1', '--verify_fatal=1', '--verify_state_save=0', '--fsync=64', '--randrepeat=1', '--output-format=json',
      ], { timeoutMs: 240_000 });
      const job = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).jobs[0];
      expect(job.error).toBe(0);
      expect(job.write.io_bytes).toBe(16 * MiB);
      expect(job.read.io_bytes).toBe(16 * MiB); // the verify pass read back every block
      expect(job.sync.total_ios).toBeGreaterThan(0);
    });
  }
});
