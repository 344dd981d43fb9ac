import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { flag, int, str } from '../args.js';
import type { Command, CommandGroup, Io } from '../command.js';
import type { ClusterFile } from '../local/cluster-file.js';
import { clusterFilePath, defaultClusterDir, metaEndpointsOf, readClusterFile, tryReadClusterFile, writeClusterFile } from '../local/cluster-file.js';
import { chunkServersDefault, chunkServersMax, defaultBasePort, defaultNbdPort, planLayout, withChunkServers } from '../local/layout.js';
import { isOurProcess, sleep, spawnBasalt, tail, waitFor } from '../local/processes.js';
import { ensureLocalCerts } from '../local/local-certs.js';
import { LocalCluster } from '../local/supervisor.js';
import { ensureKekFile } from '../kek.js';

/** `basalt up` and `basalt down`: the embedded local cluster (docs/local-cluster.md). */

const readyTimeoutMs = 90_000;

const up: Command = {
  name: '',
  summary: 'run a local cluster (3 metad, 3 chunkd in zones a-c, the NBD agent) with data under one folder',
  usage: `[--dir DIR (${defaultClusterDir})] [--detach] [--base-port N (${defaultBasePort})] [--nbd-port N (${defaultNbdPort})] [--chunk-servers N (${chunkServersDefault}; more adds servers to an existing folder)] [--insecure (no TLS on any link)]`,
  options: { dir: { type: 'string' }, detach: { type: 'boolean' }, insecure: { type: 'boolean' }, 'base-port': { type: 'string' }, 'nbd-port': { type: 'string' }, 'chunk-servers': { type: 'string' } },
  run: async (args, io) => {
    const dir = resolve(io.cwd, str(args, 'dir') ?? defaultClusterDir);
    const previous = tryReadClusterFile(clusterFilePath(dir));
    if (previous !== undefined && isOurProcess(previous.supervisorPid, dir)) {
      throw new BasaltError(ErrorCode.VolumeBusy, `a cluster already runs in ${dir} (pid ${previous.supervisorPid}); stop it with "basalt down --dir ${dir}"`, { dir });
    }
    const chunkServers = int(args, 'chunk-servers', 1, chunkServersMax);
    if (previous !== undefined && chunkServers !== undefined && chunkServers < previous.chunkd.length) {
      throw new BasaltError(ErrorCode.InvalidArgument, `${dir} already has ${previous.chunkd.length} chunk servers; --chunk-servers can add servers, not take them away: drain and remove one with "basalt server drain ID" and "basalt server remove ID"`, { dir });
    }
    // A folder that held a cluster keeps its addresses: Raft members know each other by them.
    const file = previous !== undefined ? withChunkServers(previous, chunkServers ?? 0) : planLayout({
      dir,
      basePort: int(args, 'base-port', 1024, 65000) ?? defaultBasePort,
      nbdPort: int(args, 'nbd-port', 1, 65535) ?? defaultNbdPort,
      chunkServers: chunkServers ?? chunkServersDefault,
    });
    delete file.error;
    // A folder from before encryption gets its KEK now; an existing KEK is never replaced.
    file.kekFile ??= join(dir, 'kek');
    mkdirSync(dir, { recursive: true });
    ensureKekFile(file.kekFile);
    // Secure by default: a CA and certificates in DIR/certs, mutual TLS on every link.
    if (flag(args, 'insecure')) {
      delete file.tls;
      file.insecure = true;
    } else {
      file.tls = await ensureLocalCerts(file, (line) => io.out(`basalt up: ${line}\n`));
      delete file.insecure;
    }
    if (flag(args, 'detach')) return detach(file, io);
    return runForeground(file, io);
  },
};

async function runForeground(file: ClusterFile, io: Io): Promise<number> {
  const log = (line: string): void => io.out(`basalt up: ${line}\n`);
  log(`starting in ${file.dir}`);
  const cluster = await LocalCluster.start(file, log, readyTimeoutMs);
  io.out(banner(file));
  let stopping = false;
  void cluster.anyExited.then((id) => {
    if (!stopping) log(`${id} stopped unexpectedly; the rest keeps running (Ctrl-C stops all)`);
  });
  const signal = await new Promise<string>((resolveSignal) => {
    process.once('SIGINT', () => resolveSignal('SIGINT'));
    process.once('SIGTERM', () => resolveSignal('SIGTERM'));
    // A closed terminal: the processes reload their certificates on SIGHUP, so the supervisor stops them.
    process.once('SIGHUP', () => resolveSignal('SIGHUP'));
  });
  stopping = true;
  log(`${signal}: stopping`);
  await cluster.stop();
  log('stopped');
  return 0;
}

/** Starts `basalt up --dir DIR` in the background and returns once it reports the cluster ready. */
async function detach(file: ClusterFile, io: Io): Promise<number> {
  const logPath = `${file.dir}/logs/up.log`;
  writeClusterFile({ ...file, state: 'starting', supervisorPid: 0 });
  const child = spawnBasalt(['up', '--dir', file.dir, ...(file.tls === undefined ? ['--insecure'] : [])], logPath, { detached: true });
  child.unref();
  let current = readClusterFile(clusterFilePath(file.dir));
  await waitFor(() => {
    current = readClusterFile(clusterFilePath(file.dir));
    return current.state !== 'starting' || child.exitCode !== null;
  }, readyTimeoutMs * 3 + 10_000);
  if (current.state !== 'running') {
    throw new BasaltError(ErrorCode.Unavailable, `the cluster did not start (${current.state}); last lines of ${logPath}:\n${tail(logPath, 30)}`, { dir: file.dir });
  }
  io.out(banner(current));
  io.out(`Running in the background (pid ${current.supervisorPid}); stop it with: pnpm basalt down --dir ${file.dir}\n`);
  return 0;
}

function banner(file: ClusterFile): string {
  const nbd = `nbd://${file.agent.nbd}`;
  const lines = [
    '',
    `Basalt is up. Data and logs: ${file.dir}  (cluster file: ${clusterFilePath(file.dir)})`,
    file.tls === undefined ? '  WARNING: INSECURE (--insecure): no TLS on any link; anyone who reaches a port is trusted with everything' : `  security: mutual TLS on every link; CA and certificates in ${file.tls.dir} (back up ca-key.pem)`,
    `  metad    ${metaEndpointsOf(file).join(', ')}`,
    ...file.chunkd.map((c) => `  chunkd   ${c.id} ${c.address} (${c.zone})`),
    `  agent    ${nbd}`,
    ...(file.console === undefined ? [] : [`  console  ${file.console}  (read-only web console, served by the metad leader)`]),
    `  metrics  ${[...file.metad, ...file.chunkd, file.agent].map((p) => `http://${p.metrics}/metrics`).join(' ')}`,
    '',
    'Create a volume and use it:',
    '  pnpm basalt volume create vol1 --size 1GiB',
    '  pnpm basalt volume write vol1 --from ./disk.img',
    `  nbdinfo ${nbd}/vol1`,
    `  qemu-io -f raw ${nbd}/vol1 -c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M'`,
    `  sudo nbd-client ${file.agent.nbd.replace(':', ' ')} /dev/nbd0 -N vol1    # or: sudo pnpm basalt attach vol1`,
    '  pnpm basalt status',
    '',
  ];
  return `${lines.join('\n')}\n`;
}

const down: Command = {
  name: '',
  summary: 'stop a local cluster started with "basalt up --detach"',
  usage: `[--dir DIR (${defaultClusterDir})]`,
  options: { dir: { type: 'string' } },
  run: async (args, io) => {
    const dir = resolve(io.cwd, str(args, 'dir') ?? defaultClusterDir);
    const file = readClusterFile(clusterFilePath(dir));
    if (isOurProcess(file.supervisorPid, dir)) {
      process.kill(file.supervisorPid, 'SIGTERM');
      await waitFor(() => !isOurProcess(file.supervisorPid, dir), 60_000);
    }
    // Whatever outlived its supervisor (for example after a kill -9 of it) is stopped by pid.
    const leftovers = [...file.metad, ...file.chunkd, file.agent].filter((p) => isOurProcess(p.pid, dir));
    for (const p of leftovers) process.kill(p.pid, 'SIGTERM');
    if (leftovers.length > 0) await sleep(2000);
    for (const p of leftovers) if (isOurProcess(p.pid, dir)) process.kill(p.pid, 'SIGKILL');
    const after = readClusterFile(clusterFilePath(dir));
    writeClusterFile({ ...after, state: 'stopped', supervisorPid: 0, metad: after.metad.map((m) => ({ ...m, pid: 0 })), chunkd: after.chunkd.map((c) => ({ ...c, pid: 0 })), agent: { ...after.agent, pid: 0 } });
    io.out(`basalt down: stopped the cluster in ${dir}\n`);
    return 0;
  },
};

export const upGroup: CommandGroup = { name: 'up', summary: 'the local cluster', commands: [up] };
export const downGroup: CommandGroup = { name: 'down', summary: 'stop the local cluster', commands: [down] };
