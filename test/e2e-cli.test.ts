import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MiB, Prng } from '@basalt/stdx';
import { freePortRange, freePorts, ProcessScope, runCli, runCliJson, waitForLog } from './lib/process.js';
import { SEED } from './e2e-support.js';

/**
 * The user's path through the CLI: `basalt up --detach` in a fresh folder, create a volume,
 * import a sparse file, export it again (bytes equal), `basalt status --json` with every
 * process and no degraded extent, `basalt down` (every process gone), then a command that says
 * the stopped cluster is not running.
 */
const scope = new ProcessScope();
let dir: string | undefined;
afterAll(async () => {
  // A failed test must not leave a cluster behind.
  if (dir !== undefined && existsSync(join(dir, 'cluster.json'))) await runCli(['down', '--dir', dir]);
  await scope.cleanup();
});

interface ClusterJson {
  state: string;
  supervisorPid: number;
  metad: { id: string; pid: number }[];
  chunkd: { id: string; pid: number; zone: string }[];
  agent: { pid: number; nbd: string };
  kekFile: string;
}

/** A running process (a zombie waiting for its reaper does not count: it has exited). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('basalt up, volume write/read, status, down', () => {
  it('runs a local cluster from the CLI', { timeout: 600_000 }, async () => {
    dir = scope.tempDir('basalt-e2e-cli');
    // basalt up takes ports base..base+40 (packages/cli/src/local/layout.ts).
    const base = await freePortRange(41);
    const [nbd] = await freePorts(1);
    const cluster = ['--cluster', join(dir, 'cluster.json')];
    const up = await runCli(['up', '--detach', '--dir', dir, '--base-port', String(base), '--nbd-port', String(nbd)], { timeoutMs: 300_000 });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/Basalt is up/);
    expect(up.stdout).toMatch(/nbdinfo nbd:\/\/127\.0\.0\.1:\d+\/vol1/);
    const file = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterJson;
    expect(file.state).toBe('running');
    const pids = [file.supervisorPid, ...file.metad.map((m) => m.pid), ...file.chunkd.map((c) => c.pid), file.agent.pid];
    expect(pids.every(alive)).toBe(true);
    // Each runs under the deployments' V8 heap cap (packages/cli/src/local/processes.ts).
    for (const pid of pids) expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('--max-old-space-size=160');

    await runCliJson(['volume', 'create', 'disk', '--size', '64MiB', '--extent-size', '4MiB', '--json', ...cluster]);
    // 20 MiB: random data, a 8 MiB zero run (a hole after import), random data at the end.
    const image = Buffer.alloc(20 * MiB);
    const prng = new Prng(SEED);
    image.set(prng.fill(new Uint8Array(6 * MiB)), 0);
    image.set(prng.fill(new Uint8Array(6 * MiB)), 14 * MiB);
    const input = join(dir, 'in.img');
    writeFileSync(input, image);
    const write = await runCli(['volume', 'write', 'disk', '--from', input, ...cluster]);
    expect(write.code, write.stderr).toBe(0);
    expect(write.stderr).toMatch(/100\.0% .* MB\/s/);
    const output = join(dir, 'out.img');
    const read = await runCli(['volume', 'read', 'disk', '--to', output, ...cluster]);
    expect(read.code, read.stderr).toBe(0);
    const exported = readFileSync(output);
    expect(exported.length).toBe(64 * MiB);
    expect(exported.subarray(0, image.length).equals(image)).toBe(true);
    expect(exported.subarray(image.length).every((b) => b === 0)).toBe(true);
    // Sparse both ways: the zero run was not stored, and the export did not write the holes.
    const info = await runCliJson<{ allocatedExtents: number }>(['volume', 'info', 'disk', '--json', ...cluster]);
    expect(info.allocatedExtents).toBe(4);
    expect(statSync(output).blocks * 512).toBeLessThan(20 * MiB);

    // basalt up made a KEK only its owner may read, and the CLI finds it through the cluster file.
    expect(file.kekFile).toBe(join(dir, 'kek'));
    expect(statSync(file.kekFile).mode & 0o777).toBe(0o600);
    const sec = await runCliJson<{ encryption: { cipher: string; keyId: string } | null }>(['volume', 'create', 'sec', '--size', '64MiB', '--extent-size', '4MiB', '--encrypt', '--json', ...cluster]);
    expect(sec.encryption).toMatchObject({ cipher: 'aes-256-xts', keyId: expect.stringMatching(/^file:/) as string });
    expect((await runCli(['volume', 'write', 'sec', '--from', input, ...cluster])).code).toBe(0);
    const secOut = join(dir, 'sec.img');
    expect((await runCli(['volume', 'read', 'sec', '--to', secOut, ...cluster])).code).toBe(0);
    expect(readFileSync(secOut).subarray(0, image.length).equals(image)).toBe(true);

    const status = await runCliJson<{ members: { role: string; pid: number }[]; chunkServers: { id: string; zone: string; state: string; pid: number; capacityBytes: number }[]; degradedExtents: { total: number } }>(['status', '--json', ...cluster]);
    expect(status.members.filter((m) => m.role === 'leader')).toHaveLength(1);
    expect(status.members.map((m) => m.pid).sort()).toEqual(file.metad.map((m) => m.pid).sort());
    expect(status.chunkServers.map((c) => [c.id, c.zone, c.state, c.pid])).toEqual(file.chunkd.map((c) => [c.id, c.zone, 'up', c.pid]));
    expect(status.chunkServers.every((c) => c.capacityBytes > 0)).toBe(true);
    expect(status.degradedExtents.total).toBe(0);

    const down = await runCli(['down', '--dir', dir]);
    expect(down.code, down.stderr).toBe(0);
    expect(pids.some(alive)).toBe(false);
    expect((JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterJson).state).toBe('stopped');

    // The stopped cluster is named as such, with the folder and how to start it again.
    const stopped = await runCli(['volume', 'ls', '--json', ...cluster]);
    expect(stopped.code).toBe(1);
    expect((JSON.parse(stopped.stdout) as { error: { code: string; details: { dir: string } } }).error).toMatchObject({ code: 'BASALT_CLUSTER_NOT_RUNNING', details: { dir } });
    expect(stopped.stderr).toContain(`start it with "pnpm basalt up --dir ${dir}"`);
  });

  it('runs in the foreground and stops every process on Ctrl-C', { timeout: 600_000 }, async () => {
    const fg = scope.tempDir('basalt-e2e-fg');
    const base = await freePortRange(41);
    const [nbd] = await freePorts(1);
    const up = scope.spawnCli('up-foreground', ['up', '--dir', fg, '--base-port', String(base), '--nbd-port', String(nbd)]);
    await waitForLog(up, /Basalt is up/, { timeoutMs: 300_000 });
    const file = JSON.parse(readFileSync(join(fg, 'cluster.json'), 'utf8')) as ClusterJson;
    const pids = [...file.metad.map((m) => m.pid), ...file.chunkd.map((c) => c.pid), file.agent.pid];
    expect(pids.every(alive)).toBe(true);
    up.signal('SIGINT');
    expect((await up.exited).code).toBe(0);
    expect(pids.some(alive)).toBe(false);
    expect(up.log()).toMatch(/SIGINT: stopping/);
    expect(up.log()).not.toMatch(/stopped unexpectedly/);
  });
});
