import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { missingPackages, type Need } from '../lib/packages.js';
import { freePort, stopChild, waitForPort, type NbdTarget } from './servers.js';

const execFileAsync = promisify(execFile);

/** What a single-host Ceph needs, with the Debian package each comes from. */
const needs: readonly Need[] = [
  ['ceph-mon', 'ceph-mon'],
  ['ceph-mgr', 'ceph-mgr'],
  ['ceph-osd', 'ceph-osd'],
  ['ceph', 'ceph-common'],
  ['rbd', 'ceph-common'],
  ['monmaptool', 'ceph-common'],
  ['ceph-authtool', 'ceph-common'],
  ['/usr/lib/x86_64-linux-gnu/qemu/block-rbd.so', 'qemu-block-extra'],
];

/** The packages missing for `--with-ceph` (empty: it can run). */
export function missingCephPackages(): string[] {
  return missingPackages(needs);
}

const osds = 3;
const healthyTimeoutMs = 180_000;

/**
 * A single-host Ceph 16 cluster (one mon, one mgr, three BlueStore OSDs on files in dir), a
 * pool of size 3 (min size 2) and an image of sizeBytes, served over NBD by qemu-nbd's rbd driver:
 * Basalt's replicated peer doing the same job on the same disk and cores. The settings are the
 * ones FACTS.md found to matter (replicas on one host, SSD tuning for the virtio disk, no client
 * cache). Authentication is off: both systems are measured without security. Every process
 * runs in the foreground as a child of this one and is stopped with the target.
 */
export async function startCeph(dir: string, sizeBytes: number, log: (line: string) => void): Promise<NbdTarget> {
  const children: { name: string; child: ChildProcess }[] = [];
  const stopAll = async (): Promise<void> => {
    for (const { child } of children.reverse()) await stopChild(child);
  };
  try {
    const conf = join(dir, 'ceph.conf');
    const [v1, v2] = [await freePort(), await freePort()];
    const monHost = `[v2:127.0.0.1:${v2},v1:127.0.0.1:${v1}]`;
    const fsid = randomUUID();
    mkdirSync(join(dir, 'run'), { recursive: true });
    writeFileSync(conf, [
      '[global]',
      `fsid = ${fsid}`,
      `mon host = ${monHost}`,
      'mon initial members = a',
      'auth cluster required = none',
      'auth service required = none',
      'auth client required = none',
      'public addr = 127.0.0.1',
      'ms bind ipv6 = false',
      `run dir = ${dir}/run`,
      `log file = ${dir}/$name.log`,
      `admin socket = ${dir}/run/$name.asok`,
      `mon data = ${dir}/$name`,
      `mgr data = ${dir}/$name`,
      `osd data = ${dir}/$name`,
      'mon data avail warn = 5',
      'mon warn on insecure global id reclaim allowed = false',
      'osd crush chooseleaf type = 0',
      'osd pool default size = 3',
      'osd pool default min size = 2',
      'osd memory target = 1073741824',
      'osd recovery sleep hdd = 0',
      'bluestore block create = true',
      'bluestore block size = 8G',
      'bluestore debug enforce settings = ssd',
      '[client]',
      'rbd cache = false',
      '',
    ].join('\n'));
    const ceph = (args: readonly string[]): Promise<string> => execFileAsync('ceph', ['-c', conf, ...args], { timeout: 60_000 }).then((r) => r.stdout.trim());
    const daemon = (name: string, cmd: string, args: readonly string[]): void => {
      const child = spawn(cmd, ['-c', conf, '-f', ...args], { stdio: 'ignore' });
      children.push({ name, child });
    };

    log('ceph: creating the monitor');
    await execFileAsync('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', monHost, join(dir, 'monmap')]);
    await execFileAsync('ceph-authtool', ['--create-keyring', join(dir, 'mon.keyring'), '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    mkdirSync(join(dir, 'mon.a'));
    await execFileAsync('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap'), '--keyring', join(dir, 'mon.keyring')]);
    daemon('ceph-mon', 'ceph-mon', ['-i', 'a']);
    await waitForPort(v2, 30_000);
    mkdirSync(join(dir, 'mgr.x'));
    daemon('ceph-mgr', 'ceph-mgr', ['-i', 'x']);
    for (let i = 0; i < osds; i++) {
      log(`ceph: creating OSD ${i + 1}/${osds} (BlueStore on a file)`);
      const uuid = randomUUID();
      const id = await ceph(['osd', 'new', uuid]);
      mkdirSync(join(dir, `osd.${id}`));
      await execFileAsync('ceph-osd', ['-c', conf, '-i', id, '--mkfs', '--osd-uuid', uuid], { timeout: 120_000 });
      daemon(`ceph-osd.${id}`, 'ceph-osd', ['-i', id]);
    }
    await ceph(['osd', 'pool', 'create', 'rbd', '32']);
    await ceph(['osd', 'pool', 'set', 'rbd', 'size', '3']);
    await execFileAsync('rbd', ['-c', conf, 'pool', 'init', 'rbd'], { timeout: 60_000 });
    await execFileAsync('rbd', ['-c', conf, 'create', '--size', `${sizeBytes / 2 ** 20}M`, 'rbd/bench'], { timeout: 60_000 });
    log('ceph: waiting for every placement group to be active+clean');
    const deadline = Date.now() + healthyTimeoutMs;
    for (;;) {
      const status = JSON.parse(await ceph(['pg', 'stat', '-f', 'json'])) as { pg_summary?: { num_pg_by_state?: { name: string; num: number }[]; num_pgs?: number } };
      const states = status.pg_summary?.num_pg_by_state ?? [];
      const clean = states.find((s) => s.name === 'active+clean')?.num ?? 0;
      if (clean > 0 && clean === status.pg_summary?.num_pgs) break;
      if (Date.now() > deadline) throw new Error(`ceph: placement groups not active+clean after ${healthyTimeoutMs / 1000} s: ${JSON.stringify(states)} (logs in ${dir})`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const port = await freePort();
    const nbd = spawn('qemu-nbd', ['--bind=127.0.0.1', `--port=${port}`, '--export-name=disk', '--format=raw', '--persistent', '--shared=8', '--cache=none', '--discard=unmap', `rbd:rbd/bench:conf=${conf}`], { stdio: 'ignore' });
    children.push({ name: 'qemu-nbd (rbd)', child: nbd });
    await waitForPort(port, 30_000);
    return {
      name: 'ceph rbd 3-replica',
      uri: `nbd://127.0.0.1:${port}/disk`,
      processes: () => children.map(({ name, child }) => ({ name, pid: child.pid })),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
