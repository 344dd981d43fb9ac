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

/** The name of the Ceph target, before the suffix that pairs it with Basalt targets. */
export const cephName = 'ceph rbd 3-replica';

const healthyTimeoutMs = 180_000;

export interface PgCounts {
  readonly total: number;
  readonly clean: number;
  /** Placement groups by state, as `ceph pg stat` names them. */
  readonly states: readonly { name: string; num: number }[];
}

/** A running single-host Ceph: its config file, `ceph` and `rbd` commands, its processes. */
export interface CephCluster {
  readonly conf: string;
  ceph(args: readonly string[]): Promise<string>;
  rbd(args: readonly string[], timeoutMs?: number): Promise<string>;
  /** The OSD ids, in creation order. */
  readonly osdIds: readonly string[];
  /** Starts OSD id's daemon again (after stopOsd), with its data. */
  startOsd(id: string): void;
  /** SIGKILLs OSD id's daemon. */
  stopOsd(id: string): Promise<void>;
  /** How many placement groups there are and how many are active+clean, as the mgr last reported. */
  pgCounts(): Promise<PgCounts>;
  /** Waits until every placement group is active+clean; timeoutMs bounds it. */
  waitClean(timeoutMs?: number): Promise<void>;
  processes(): { name: string; pid: number | undefined }[];
  /** Adds a process to stop with the cluster (last in, first out). */
  own(name: string, child: ChildProcess): void;
  stop(): Promise<void>;
}

/**
 * The [global] lines that make Ceph as secure as a default Basalt cluster: cephx authentication of
 * every daemon and client (each with its own key, `$name/keyring` in the cluster's dir), and the
 * msgr2 `secure` mode (AES-GCM on the wire) on every link: client to mon and OSD, OSD to OSD, mon
 * to mon. Ceph's default is cephx with the `crc` mode (authenticated, not encrypted); Basalt's
 * mutual TLS encrypts, so this is the like-for-like peer.
 */
function secureConf(dir: string): string[] {
  return [
    'auth cluster required = cephx',
    'auth service required = cephx',
    'auth client required = cephx',
    `keyring = ${dir}/$name/keyring`,
    ...['ms cluster mode', 'ms service mode', 'ms client mode', 'ms mon cluster mode', 'ms mon service mode', 'ms mon client mode'].map((k) => `${k} = secure`),
  ];
}

const insecureConf = ['auth cluster required = none', 'auth service required = none', 'auth client required = none'];

/**
 * A single-host Ceph 16 cluster (one mon, one mgr, `osds` BlueStore OSDs on files in dir; `extraConf`
 * lines join its [global] section), a
 * pool `rbd` of size 3 (min size 2) with 32 placement groups and an image `rbd/bench` of
 * sizeBytes: Basalt's replicated peer doing the same job on the same disk and cores. The settings
 * are the ones FACTS.md found to matter (replicas on one host, SSD tuning for the virtio disk, no
 * client cache). With `secure`, cephx and msgr2's secure mode (secureConf); without, no
 * authentication and no encryption (the peer of `basalt up --insecure`). Every process runs in the
 * foreground as a child of this one and is stopped with the cluster.
 */
export async function startCephCluster(dir: string, opts: { osds: number; sizeBytes: number; secure: boolean; extraConf?: readonly string[] }, log: (line: string) => void): Promise<CephCluster> {
  const { osds, sizeBytes, secure } = opts;
  const children: { name: string; child: ChildProcess }[] = [];
  const osdChildren = new Map<string, ChildProcess>();
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
      ...(secure ? secureConf(dir) : insecureConf),
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
      ...(opts.extraConf ?? []),
      '[client]',
      'rbd cache = false',
      '',
    ].join('\n'));
    const ceph = (args: readonly string[]): Promise<string> => execFileAsync('ceph', ['-c', conf, ...args], { timeout: 60_000 }).then((r) => r.stdout.trim());
    const rbd = (args: readonly string[], timeoutMs = 60_000): Promise<string> => execFileAsync('rbd', ['-c', conf, ...args], { timeout: timeoutMs }).then((r) => r.stdout.trim());
    const daemon = (name: string, cmd: string, args: readonly string[]): ChildProcess => {
      const child = spawn(cmd, ['-c', conf, '-f', ...args], { stdio: 'ignore' });
      children.push({ name, child });
      return child;
    };
    const startOsd = (id: string): void => void osdChildren.set(id, daemon(`ceph-osd.${id}`, 'ceph-osd', ['-i', id]));
    const pgCounts = async (): Promise<PgCounts> => {
      const status = JSON.parse(await ceph(['pg', 'stat', '-f', 'json'])) as { pg_summary?: { num_pg_by_state?: { name: string; num: number }[]; num_pgs?: number } };
      const states = status.pg_summary?.num_pg_by_state ?? [];
      return { total: status.pg_summary?.num_pgs ?? 0, clean: states.find((s) => s.name === 'active+clean')?.num ?? 0, states };
    };
    const waitClean = async (timeoutMs = healthyTimeoutMs): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const pgs = await pgCounts();
        if (pgs.clean > 0 && pgs.clean === pgs.total) return;
        if (Date.now() > deadline) throw new Error(`ceph: placement groups not active+clean after ${timeoutMs / 1000} s: ${JSON.stringify(pgs.states)} (logs in ${dir})`);
        await new Promise((r) => setTimeout(r, 500));
      }
    };

    log('ceph: creating the monitor');
    await execFileAsync('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', monHost, join(dir, 'monmap')]);
    await execFileAsync('ceph-authtool', ['--create-keyring', join(dir, 'mon.keyring'), '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    if (secure) {
      const admin = join(dir, 'client.admin', 'keyring');
      mkdirSync(join(dir, 'client.admin'));
      await execFileAsync('ceph-authtool', ['--create-keyring', admin, '--gen-key', '-n', 'client.admin', '--cap', 'mon', 'allow *', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow *']);
      await execFileAsync('ceph-authtool', [join(dir, 'mon.keyring'), '--import-keyring', admin]);
    }
    /** Gives daemon `name` its cephx key in its data dir (secure clusters only). */
    const daemonKey = async (name: string, caps: readonly string[]): Promise<void> => {
      if (secure) await ceph(['auth', 'get-or-create', name, ...caps, '-o', join(dir, name, 'keyring')]);
    };
    mkdirSync(join(dir, 'mon.a'));
    await execFileAsync('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap'), '--keyring', join(dir, 'mon.keyring')]);
    daemon('ceph-mon', 'ceph-mon', ['-i', 'a']);
    await waitForPort(v2, 30_000);
    mkdirSync(join(dir, 'mgr.x'));
    await daemonKey('mgr.x', ['mon', 'allow profile mgr', 'osd', 'allow *']);
    daemon('ceph-mgr', 'ceph-mgr', ['-i', 'x']);
    const osdIds: string[] = [];
    for (let i = 0; i < osds; i++) {
      log(`ceph: creating OSD ${i + 1}/${osds} (BlueStore on a file)`);
      const uuid = randomUUID();
      const id = await ceph(['osd', 'new', uuid]);
      mkdirSync(join(dir, `osd.${id}`));
      await daemonKey(`osd.${id}`, ['mon', 'allow profile osd', 'mgr', 'allow profile osd', 'osd', 'allow *']);
      await execFileAsync('ceph-osd', ['-c', conf, '-i', id, '--mkfs', '--osd-uuid', uuid], { timeout: 120_000 });
      startOsd(id);
      osdIds.push(id);
    }
    await ceph(['osd', 'pool', 'create', 'rbd', '32']);
    await ceph(['osd', 'pool', 'set', 'rbd', 'size', '3']);
    await rbd(['pool', 'init', 'rbd']);
    await rbd(['create', '--size', `${sizeBytes / 2 ** 20}M`, 'rbd/bench']);
    log('ceph: waiting for every placement group to be active+clean');
    await waitClean();
    return {
      conf,
      ceph,
      rbd,
      osdIds,
      startOsd,
      stopOsd: async (id) => {
        const child = osdChildren.get(id);
        if (child === undefined) return;
        osdChildren.delete(id);
        child.kill('SIGKILL');
        await stopChild(child);
      },
      pgCounts,
      waitClean,
      processes: () => children.map(({ name, child }) => ({ name, pid: child.pid })),
      own: (name, child) => void children.push({ name, child }),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * The Ceph of startCephCluster with three OSDs, its image served over NBD by qemu-nbd's rbd driver,
 * named `ceph rbd 3-replica` followed by `suffix` (the suffix of the Basalt targets it is the peer of).
 */
export async function startCeph(dir: string, opts: { sizeBytes: number; secure: boolean; suffix: string }, log: (line: string) => void): Promise<NbdTarget> {
  const cluster = await startCephCluster(dir, { osds: 3, sizeBytes: opts.sizeBytes, secure: opts.secure }, log);
  try {
    const port = await freePort();
    const nbd = spawn('qemu-nbd', ['--bind=127.0.0.1', `--port=${port}`, '--export-name=disk', '--format=raw', '--persistent', '--shared=8', '--cache=none', '--discard=unmap', `rbd:rbd/bench:conf=${cluster.conf}`], { stdio: 'ignore' });
    cluster.own('qemu-nbd (rbd)', nbd);
    await waitForPort(port, 30_000);
    return {
      name: `${cephName}${opts.suffix}`,
      uri: `nbd://127.0.0.1:${port}/disk`,
      processes: () => cluster.processes(),
      stop: () => cluster.stop(),
    };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}
