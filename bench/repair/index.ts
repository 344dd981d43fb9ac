/**
 * `pnpm bench:repair`: how fast a Basalt cluster heals, side by side in one run with `cp`.
 *
 * Twice, each on a fresh cluster (cluster.ts: 3 metad, 4 chunk servers in 4 zones, the agent),
 * once with `--repair-bandwidth 0` (no budget) and once with the default budget:
 *   1. a 3-replica volume of --size is written in full through the agent (fio, 1 MiB QD8);
 *   2. foreground baseline: fio 4 KiB random writes at QD1 through the agent;
 *   3. rebuild: one chunk server is killed (SIGKILL) for good and marked out (`basalt server out`);
 *      one 4 KiB write per extent lets the agent fail over (timed apart), then the same fio job
 *      runs until metad reports no degraded extent and no rebuilding replica;
 *   4. catch-up: another server is killed, fio writes 4 KiB random blocks for a few seconds while
 *      it is down, then it restarts with its data; timed until full redundancy again, with the
 *      bytes the primaries copied (basalt_chunk_repair_bytes_total) against a full copy.
 * The agent's SDK counts every write request by what happened to it (basalt_client_mutation_duration_seconds
 * by path: plain, resent, set_changed, stale_epoch, failover); the failover pass and the rebuild
 * each print how many took each path and how many of each were slower than the phase's p99.
 * Then `cp` copies the bytes the first rebuild copied between two folders of the same disk (the
 * machine's ceiling for moving them). Prints one table on stdout, progress on stderr, every
 * process's peak RSS and CPU share during the rebuild; raw results in bench/out/repair-<date>.json,
 * the processes' logs of the last run in bench/out/repair-logs/.
 *
 *   pnpm bench:repair [--size 4G] [--quick] [--fg-seconds 10] [--cpu-prof DIR] [--with-ceph]
 *   (--quick: --size 1G --fg-seconds 5; --cpu-prof: chunk servers run under node --cpu-prof;
 *   --with-ceph: then Ceph 16 recovers an image of the same size in the same run, ceph-recovery.ts)
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, cpSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { limits } from '@basalt/stdx';
import { RssSampler } from '../meta/rss.js';
import { runFio, type FioJob, type FioResult } from '../nbd/fio.js';
import { cpuSeconds } from '../lib/proc-stats.js';
import { BenchCluster, counterSum } from './cluster.js';
import { log, parseSize } from '../lib/cli.js';
import { missingCephPackages } from '../nbd/ceph.js';
import { cephRecovery, type CephRecoveryResult } from './ceph-recovery.js';
import { describePaths, pathsBetween, readPaths, summarize, type PathSummary } from './mutation-paths.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'packages/cli/dist/bin.js');
const execFileAsync = promisify(execFile);
const MiB = 2 ** 20;
const chunkServers = 4;
const prefillJob: FioJob = { name: 'prefill 1M QD8', rw: 'write', blockSize: '1M', depth: 8, unit: 'MiB/s' };
const fgJob: FioJob = { name: 'rand write 4K QD1', rw: 'randwrite', blockSize: '4k', depth: 1, unit: 'IOPS' };
/** One 4 KiB write at the start of every extent: the agent's first write to each after a kill. */
const touchJob: FioJob = { name: 'one 4K write per extent', rw: 'write', blockSize: '4k', depth: 1, holeBytes: limits.extentSizeBytesDefault - 4096, unit: 'IOPS' };
const catchupWriteS = 5;
const pollMs = 250;
const repairMetric = 'basalt_chunk_repair_bytes_total';

interface RunResult {
  label: string;
  repairBandwidth: number;
  prefillMiBPerS: number;
  before: FioResult;
  /** One write per extent right after the kill (failover), and how long that pass took. */
  failover: FioResult | undefined;
  failoverSeconds: number;
  during: FioResult | undefined;
  repairSeconds: number;
  repairCopiedBytes: number;
  repairComparedBytes: number;
  /** Of repairCopiedBytes, what the metrics counted as kind="catchup". */
  repairCountedAsCatchupBytes: number;
  /** Share of one core each process used during the rebuild. */
  repairCpu: Record<string, number>;
  catchupWrites: FioResult | undefined;
  catchupSeconds: number;
  catchupCopiedBytes: number;
  /** The extents the primaries compared: those the restarted server was dropped from while down. */
  catchupComparedBytes: number;
  fullCopyBytes: number;
  peakRssMiB: Record<string, number>;
  /** The agent's mutation requests by path (what happened to them) in the failover pass and during the rebuild. */
  failoverPaths: { overMs: number; rows: PathSummary[] };
  duringPaths: { overMs: number; rows: PathSummary[] };
}

/** Resolves with the seconds until metad reports no degraded extent and no rebuilding replica. */
async function untilRedundant(cluster: BenchCluster, startMs: number, limitS: number, what: string): Promise<number> {
  let lastLogMs = 0;
  for (;;) {
    const r = await cluster.meta((m) => m.call('getRepairStatus', {}, { timeoutMs: 5000 })).catch(() => undefined);
    const now = Date.now();
    if (r !== undefined && Number(r.degradedExtents) === 0 && Number(r.rebuildingReplicas) === 0) return (now - startMs) / 1000;
    if (now - startMs > limitS * 1000) throw new Error(`${what}: not back to full redundancy after ${limitS} s`);
    if (r !== undefined && now - lastLogMs >= 2000) {
      lastLogMs = now;
      log(`  ${what}: ${r.degradedExtents} degraded extents, ${r.rebuildingReplicas} rebuilding, ${(Number(r.bytesLeft) / MiB).toFixed(0)} MiB left, ${(Number(r.rateBytesPerSec) / MiB).toFixed(0)} MiB/s, ${((now - startMs) / 1000).toFixed(1)} s`);
    }
    await new Promise((r2) => setTimeout(r2, pollMs));
  }
}

async function runOne(label: string, repairBandwidth: number | undefined, dir: string, sizeBytes: number, fgSeconds: number, cpuProf: string | undefined, onCluster: (c: BenchCluster | undefined) => void): Promise<RunResult> {
  log(`=== ${label} ===`);
  const cluster = await BenchCluster.start(cli, dir, chunkServers, repairBandwidth, cpuProf === undefined ? undefined : join(cpuProf, label.replace(/\W+/g, '-')), log);
  onCluster(cluster);
  const rss = new RssSampler(() => cluster.processes().map((p) => ({ name: p.name, pid: p.pid })));
  try {
    const metad = ['--metad', cluster.metaEndpoints.join(',')];
    await execFileAsync(process.execPath, [cli, 'volume', 'create', 'bench', '--size', String(sizeBytes), '--replicas', '3', ...metad], { timeout: 60_000 });
    const uri = `nbd://${cluster.nbd}/bench`;
    const limitS = Math.max(300, sizeBytes / MiB / 4);
    log(`writing ${sizeBytes / MiB} MiB through the agent (fio 1M QD8)...`);
    const prefill = await runFio(uri, prefillJob, sizeBytes, 0, false, dir);
    log(`  ${prefill.mibPerS.toFixed(1)} MiB/s`);
    await execFileAsync('sync');
    log(`foreground before: fio ${fgJob.name} for ${fgSeconds} s...`);
    const before = await runFio(uri, fgJob, sizeBytes, fgSeconds, true, dir);
    log(`  ${before.iops.toFixed(0)} IOPS, p50 ${before.p50Ms.toFixed(2)} ms, p99 ${before.p99Ms.toFixed(2)} ms`);

    const victim = `c${chunkServers}`;
    const survivors = [...cluster.chunkMetrics].filter(([id]) => id !== victim).map(([, a]) => a);
    const cpu0 = new Map(cluster.processes().map((p) => [p.name, cpuSeconds(p.pid)]));
    log(`rebuild: kill -9 ${victim}, basalt server out ${victim}; fio ${fgJob.name} until full redundancy...`);
    cluster.kill(victim);
    const t0 = Date.now();
    await cluster.meta((m) => m.call('markServerOut', { id: victim }));
    const redundant = untilRedundant(cluster, t0, limitS, 'rebuild');
    // The agent learns that c4 is gone one extent at a time, at its first write there (a dead
    // primary is reported to metad, a forward to a dead secondary is dropped by the primary):
    // a failover cost, measured apart so that "during" is what the copies cost foreground writes.
    const paths0 = await readPaths(cluster.agentMetrics);
    const failoverT0 = Date.now();
    let repaired = false;
    void redundant.then(() => (repaired = true), () => undefined);
    const failover = await runFio(uri, { ...touchJob, ios: sizeBytes / limits.extentSizeBytesDefault }, sizeBytes, 0, false, dir).catch((err: unknown) => {
      log(`  fio touching every extent failed: ${String(err)}`);
      return undefined;
    });
    const failoverSeconds = (Date.now() - failoverT0) / 1000;
    log(`  failover: one write per extent in ${failoverSeconds.toFixed(1)} s, max ${failover?.maxMs.toFixed(0)} ms`);
    const paths1 = await readPaths(cluster.agentMetrics);
    const duringP = repaired ? Promise.reject(new Error('the repair ended before the failover pass did')) : runFio(uri, fgJob, sizeBytes, limitS, true, dir, redundant.catch(() => undefined));
    const repairSeconds = await redundant;
    const elapsedS = (Date.now() - t0) / 1000;
    const repairCpu: Record<string, number> = {};
    for (const p of cluster.processes()) {
      const a = cpu0.get(p.name);
      const b = cpuSeconds(p.pid);
      if (a !== undefined && b !== undefined) repairCpu[p.name] = (b - a) / elapsedS;
    }
    const during = await duringP.catch((err: unknown) => {
      log(`  fio during the rebuild failed: ${String(err)}`);
      return undefined;
    });
    const paths2 = await readPaths(cluster.agentMetrics);
    const failoverPaths = summarize(pathsBetween(paths0, paths1), failover?.p99Ms ?? Infinity);
    const duringPaths = summarize(pathsBetween(paths1, paths2), during?.p99Ms ?? Infinity);
    log(`  requests by path, failover pass: ${describePaths(failoverPaths)}`);
    log(`  requests by path, during the rebuild: ${describePaths(duringPaths)}`);
    // Both kinds: a copy counts as a catch-up when the member holds any stamped block at its first
    // comparison, which foreground writes forwarded to a new member before that comparison cause.
    const repairCopiedBytes = await counterSum(survivors, repairMetric, { what: 'copied' });
    const repairComparedBytes = await counterSum(survivors, repairMetric, { what: 'compared' });
    const repairCountedAsCatchupBytes = await counterSum(survivors, repairMetric, { kind: 'catchup', what: 'copied' });
    log(`  ${repairSeconds.toFixed(1)} s, ${(repairCopiedBytes / MiB).toFixed(0)} MiB copied (${(repairCopiedBytes / MiB / repairSeconds).toFixed(0)} MiB/s); fio p50 ${during?.p50Ms.toFixed(2)} ms, p99 ${during?.p99Ms.toFixed(2)} ms`);

    const away = 'c1';
    const others = [...cluster.chunkMetrics].filter(([id]) => id !== victim && id !== away).map(([, a]) => a);
    log(`catch-up: kill -9 ${away}, fio ${fgJob.name} for ${catchupWriteS} s while it is down, restart it...`);
    cluster.kill(away);
    const catchupWrites = await runFio(uri, fgJob, sizeBytes, catchupWriteS, true, dir).catch((err: unknown) => {
      log(`  fio while ${away} is down failed: ${String(err)}`);
      return undefined;
    });
    const copied0 = await counterSum(others, repairMetric, { what: 'copied' });
    const compared0 = await counterSum(others, repairMetric, { what: 'compared' });
    cluster.restart(away);
    const t2 = Date.now();
    await cluster.serversUp([away]);
    const catchupSeconds = await untilRedundant(cluster, t2, limitS, 'catch-up');
    const catchupCopiedBytes = (await counterSum(others, repairMetric, { what: 'copied' })) - copied0;
    const catchupComparedBytes = (await counterSum(others, repairMetric, { what: 'compared' })) - compared0;
    // With 3 servers left and 3 replicas, the restarted server holds every extent: a full copy is the volume.
    const fullCopyBytes = sizeBytes;
    log(`  ${catchupSeconds.toFixed(1)} s, ${(catchupCopiedBytes / MiB).toFixed(1)} MiB copied of ${fullCopyBytes / MiB} MiB`);
    const peaks = rss.stop();
    return {
      label, repairBandwidth: repairBandwidth ?? limits.repairBandwidthBytesPerSecDefault, prefillMiBPerS: prefill.mibPerS, before, failover, failoverSeconds, during, repairSeconds,
      repairCopiedBytes, repairComparedBytes, repairCountedAsCatchupBytes, repairCpu, catchupWrites, catchupSeconds, catchupCopiedBytes, catchupComparedBytes, fullCopyBytes,
      failoverPaths, duringPaths,
      peakRssMiB: Object.fromEntries([...peaks].map(([k, v]) => [k, Math.round(v / 1024)])),
    };
  } finally {
    rss.stop();
    await cluster.stop();
    onCluster(undefined);
  }
}

/** Seconds `cp` takes to copy `bytes` between two folders under dir (then `sync`), and without the sync. */
async function cpCeiling(dir: string, bytes: number): Promise<{ cpSeconds: number; cpSyncSeconds: number }> {
  mkdirSync(join(dir, 'a'), { recursive: true });
  mkdirSync(join(dir, 'b'), { recursive: true });
  const src = join(dir, 'a', 'data');
  const fd = openSync(src, 'w');
  const piece = randomBytes(MiB);
  for (let off = 0; off < bytes; off += MiB) writeSync(fd, piece, 0, Math.min(MiB, bytes - off));
  closeSync(fd);
  await execFileAsync('sync');
  const t0 = Date.now();
  await execFileAsync('cp', [src, join(dir, 'b', 'data')], { timeout: 600_000 });
  const cpSeconds = (Date.now() - t0) / 1000;
  await execFileAsync('sync');
  return { cpSeconds, cpSyncSeconds: (Date.now() - t0) / 1000 };
}

/** Moves a run's process logs to bench/out/repair-logs/NAME (each copy is logged by its primary) and removes its data. */
function keepLogs(dir: string, name: string): void {
  const to = join(root, 'bench/out/repair-logs', name);
  rmSync(to, { recursive: true, force: true });
  cpSync(join(dir, 'logs'), to, { recursive: true });
  rmSync(dir, { recursive: true, force: true });
}

function fmt(n: number | undefined, digits = 1): string {
  return n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

function table(runs: readonly RunResult[], cp: { bytes: number; cpSeconds: number; cpSyncSeconds: number }): string {
  const head = ['', ...runs.map((r) => r.label), 'cp (same disk)'];
  const row = (name: string, f: (r: RunResult) => string, cpCell = ''): string[] => [name, ...runs.map(f), cpCell];
  const rows = [
    row('volume written through the agent (MiB/s)', (r) => fmt(r.prefillMiBPerS)),
    row('rebuild: bytes copied (MiB)', (r) => `${fmt(r.repairCopiedBytes / MiB, 0)} (${fmt(r.repairCountedAsCatchupBytes / MiB, 0)} counted as kind="catchup")`, fmt(cp.bytes / MiB, 0)),
    row('rebuild: time to full redundancy (s)', (r) => fmt(r.repairSeconds), `${fmt(cp.cpSeconds)} (${fmt(cp.cpSyncSeconds)} with sync)`),
    row('rebuild: MiB/s', (r) => `**${fmt(r.repairCopiedBytes / MiB / r.repairSeconds, 0)}** (x${fmt(r.repairCopiedBytes / MiB / r.repairSeconds / 129, 2)} Ceph's 110-148)`, `${fmt(cp.bytes / MiB / cp.cpSeconds, 0)} (${fmt(cp.bytes / MiB / cp.cpSyncSeconds, 0)} with sync)`),
    row('fg 4K rand write QD1 before: IOPS, p50 / p99 ms', (r) => `${fmt(r.before.iops, 0)}, ${fmt(r.before.p50Ms, 2)} / ${fmt(r.before.p99Ms, 2)}`),
    row('failover: one 4K write per extent after the kill: s, p50 / max ms', (r) => (r.failover === undefined ? 'failed' : `${fmt(r.failoverSeconds)}, ${fmt(r.failover.p50Ms, 2)} / ${fmt(r.failover.maxMs, 0)}`)),
    row('fg 4K rand write QD1 during (after the failover): IOPS, p50 / p99 ms', (r) => (r.during === undefined ? 'failed' : `${fmt(r.during.iops, 0)}, ${fmt(r.during.p50Ms, 2)} / ${fmt(r.during.p99Ms, 2)}`)),
    row('fg during / before: p50, p99', (r) => (r.during === undefined ? '-' : `${fmt(r.during.p50Ms / r.before.p50Ms, 2)}, **${fmt(r.during.p99Ms / r.before.p99Ms, 2)}**`)),
    row(`catch-up: 4K writes while down (${catchupWriteS} s; MiB)`, (r) => (r.catchupWrites === undefined ? '-' : `${fmt(r.catchupWrites.iops * catchupWriteS, 0)} (${fmt((r.catchupWrites.iops * catchupWriteS * 4096) / MiB)})`)),
    row('catch-up: time to full redundancy (s)', (r) => fmt(r.catchupSeconds)),
    row('catch-up: copied MiB / full copy MiB (%)', (r) => `${fmt(r.catchupCopiedBytes / MiB)} / ${fmt(r.fullCopyBytes / MiB, 0)} (**${fmt((100 * r.catchupCopiedBytes) / r.fullCopyBytes, 2)} %**)`),
    row('catch-up: extents compared (MiB)', (r) => fmt(r.catchupComparedBytes / MiB, 0)),
  ];
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * Ceph's recoveries beside Basalt's rebuilds: no budget against Ceph with its throttles opened,
 * the default budget against Ceph's defaults.
 */
function cephTable(runs: readonly RunResult[], ceph: CephRecoveryResult, sizeBytes: number): string {
  const rate = (bytes: number, seconds: number): number => bytes / MiB / seconds;
  const pairs = [[runs[0], ceph.runs[1]], [runs[1], ceph.runs[0]]] as const;
  const lines = [
    `Ceph 16 in the same run: 1 mon, 1 mgr, 4 BlueStore OSDs on files, pool size 3, a ${sizeBytes / MiB} MiB image written in full with rbd bench (${fmt(ceph.fillMiBPerS, 0)} MiB/s); per setting one OSD killed (SIGKILL) and marked down and out at once`,
    '',
    '| Basalt | Basalt rebuild MiB/s | Ceph | Ceph: MiB recovered, s to active+clean | Ceph MiB/s | Basalt / Ceph |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const [b, c] of pairs) {
    if (b === undefined || c === undefined) continue;
    const basaltRate = rate(b.repairCopiedBytes, b.repairSeconds);
    const cephRate = rate(c.bytes, c.seconds);
    lines.push(`| ${b.label} | ${fmt(basaltRate, 0)} | ${c.label} | ${fmt(c.bytes / MiB, 0)}, ${fmt(c.seconds, 1)} | ${fmt(cephRate, 0)} | **${fmt(basaltRate / cephRate, 2)}** |`);
  }
  lines.push('', `Ceph peak RSS MiB: ${Object.entries(ceph.peakRssMiB).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { size: { type: 'string' }, quick: { type: 'boolean', default: false }, 'fg-seconds': { type: 'string' }, 'cpu-prof': { type: 'string' }, 'with-ceph': { type: 'boolean', default: false } } });
  const sizeBytes = parseSize(values.size ?? (values.quick ? '1G' : '4G'));
  const fgSeconds = Number(values['fg-seconds'] ?? (values.quick ? 5 : 10));
  if (!(fgSeconds >= 1 && fgSeconds <= 120)) throw new Error('--fg-seconds must be 1..120');
  if (sizeBytes % limits.extentSizeBytesDefault !== 0) throw new Error(`--size must be whole extents (${limits.extentSizeBytesDefault / MiB} MiB)`);
  const cpuProf = values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']);
  const base = mkdtempSync(join(tmpdir(), 'basalt-bench-repair-'));
  let current: BenchCluster | undefined;
  const cleanup = async (): Promise<void> => {
    await current?.stop();
    rmSync(base, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    log('SIGINT: stopping the cluster and removing its data');
    void cleanup().finally(() => process.exit(130));
  });
  process.once('exit', () => current?.killAll());
  const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const loadBefore = load();
  log(`load average ${loadBefore}; data under ${base}`);
  try {
    const runs: RunResult[] = [];
    const set = (c: BenchCluster | undefined): void => {
      current = c;
    };
    runs.push(await runOne('no budget (--repair-bandwidth 0)', 0, join(base, 'unlimited'), sizeBytes, fgSeconds, cpuProf, set));
    keepLogs(join(base, 'unlimited'), 'unlimited');
    runs.push(await runOne(`default budget (${limits.repairBandwidthBytesPerSecDefault / MiB} MiB/s per server)`, undefined, join(base, 'default'), sizeBytes, fgSeconds, cpuProf, set));
    keepLogs(join(base, 'default'), 'default');
    const cpBytes = runs[0]!.repairCopiedBytes > 0 ? runs[0]!.repairCopiedBytes : sizeBytes;
    log(`cp ${cpBytes / MiB} MiB between two folders of ${base}...`);
    const cp = { bytes: cpBytes, ...(await cpCeiling(join(base, 'cp'), cpBytes)) };
    let ceph: CephRecoveryResult | undefined;
    if (values['with-ceph']) {
      const missing = missingCephPackages();
      if (missing.length > 0) log(`--with-ceph: SKIPPED, Ceph is not installed (apt-get install ${missing.join(' ')}); the run goes on without it`);
      else ceph = await cephRecovery(join(base, 'ceph'), sizeBytes, log);
    }
    const loadAfter = load();
    const when = new Date().toISOString();
    const out = [
      `\nRepair benchmark (${sizeBytes / MiB} MiB volume, 3 replicas, ${chunkServers} chunk servers, ${when}; load average ${loadBefore} before, ${loadAfter} after)`,
      '',
      table(runs, cp),
      '',
      ...runs.map((r) => `${r.label}: peak RSS MiB ${Object.entries(r.peakRssMiB).map(([k, v]) => `${k} ${v}`).join(', ')}`),
      ...runs.map((r) => `${r.label}: the agent's write requests by path in the failover pass: ${describePaths(r.failoverPaths)}`),
      ...runs.map((r) => `${r.label}: the agent's write requests by path during the rebuild: ${describePaths(r.duringPaths)}`),
      ...runs.map((r) => `${r.label}: CPU during the rebuild (share of one core) ${Object.entries(r.repairCpu).map(([k, v]) => `${k} ${fmt(v * 100, 0)}%`).join(', ')}`),
      ...(ceph === undefined ? [] : ['', cephTable(runs, ceph, sizeBytes)]),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    mkdirSync(join(root, 'bench/out'), { recursive: true });
    writeFileSync(join(root, `bench/out/repair-${when.replace(/[:.]/g, '-')}.json`), JSON.stringify({ sizeBytes, fgSeconds, loadBefore, loadAfter, runs, cp, ceph }, null, 2));
  } finally {
    await cleanup();
  }
}

await main();
