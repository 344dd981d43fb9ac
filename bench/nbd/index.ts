/**
 * `pnpm bench:nbd`: fio through NBD (`--ioengine=nbd`, one connection per job) against Basalt
 * volumes of a local cluster (`basalt up --detach` in a temp dir; servers.ts says which agent
 * serves which), side by side in one run with `qemu-nbd` and `nbdkit file` serving a local file
 * in the same temp dir (same disk). Every target is first written once in full (prefill, so reads hit stored
 * data and not holes), then each workload runs for --runtime seconds on each target in turn.
 * Each cell starts after a `sync`: no cell pays for the write-back of pages an earlier cell (of
 * any target) left dirty in the page cache.
 * With --with-ceph, a single-host Ceph RBD cluster (ceph.ts: 1 mon, 1 mgr, 3 BlueStore OSDs on
 * files, pool size 3, served by qemu-nbd's rbd driver) runs beside them as the replicated peer,
 * secured like the Basalt cluster (cephx, msgr2 secure mode on every link); with
 * --compare-insecure too, a second Ceph without authentication or encryption is the peer of the
 * insecure Basalt cluster. Each Basalt target's ratio is to the Ceph of its own kind. Where Ceph's
 * Debian packages are missing the run says which and goes on without it.
 * Prints one table with each row's ratio to qemu-nbd and (with Ceph) to Ceph, the CPU seconds
 * each system's processes used per row, every process's peak RSS, and the machine's free memory
 * when each target's prefill began (first writes cost more while much is free); writes the raw results to
 * bench/out/nbd-<date>.json.
 *
 * With --compare-insecure, a second local cluster started with `basalt up --insecure` (no TLS, no
 * roles; capabilities stay on) serves the same volumes beside the secure one, its targets named
 * "... (insecure)", and a second table gives each secure row's ratio to its insecure twin (and,
 * with --encrypt, the encrypted volume's ratio to the plain one): the cost of security, measured
 * cell by cell in one run.
 *
 *   pnpm bench:nbd [--runtime 10] [--size 1G] [--quick] [--with-ceph] [--encrypt] [--compare-insecure] [--page-cache-full]
 *     (--quick: --runtime 3 --size 256M; --encrypt: an encrypted 3-replica volume too; --page-cache-full:
 *     the machine's free memory filled with clean page cache before the first cell, as on a server
 *     that has run a while: ../lib/page-cache.ts)
 */
import { execFile } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { jobs, runFio, type FioJob, type FioResult } from './fio.js';
import { cpuSeconds, memFreeMiB, peakRssKiB } from '../lib/proc-stats.js';
import { missingPackages } from '../lib/packages.js';
import { cephName, missingCephPackages, startCeph } from './ceph.js';
import { encryptedTarget, freePort, insecureSuffix, startBasalt, startReference, type NbdTarget } from './servers.js';
import { log, parseSize } from '../lib/cli.js';
import { fillPageCache } from '../lib/page-cache.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'packages/cli/dist/bin.js');
const prefillJob: FioJob = { name: 'prefill 1M QD8', rw: 'write', blockSize: '1M', depth: 8, unit: 'MiB/s' };
const execFileAsync = promisify(execFile);
/** --page-cache-full leaves this much memory free: more would be free pages the guest handed back to its host (the clean page cache is reclaimed as processes grow). */
const pageCacheHeadroomMiB = 256;

function cell(r: FioResult | undefined, job: FioJob): string {
  if (r === undefined) return 'failed';
  return job.unit === 'MiB/s' ? `${r.mibPerS.toFixed(1)} MiB/s` : `${r.iops.toFixed(0)}`;
}

function value(r: FioResult | undefined, job: FioJob): number {
  if (r === undefined) return NaN;
  return job.unit === 'MiB/s' ? r.mibPerS : r.iops;
}

/**
 * The targets t is compared with: qemu-nbd (the first target), and for a Basalt target the Ceph of
 * its kind (secure or insecure) when it runs. None for qemu-nbd and Ceph themselves.
 */
function refsOf(t: string, targets: readonly string[]): string[] {
  if (t === targets[0] || t.startsWith(cephName)) return [];
  if (!t.startsWith('basalt')) return [targets[0]!];
  const ceph = `${cephName}${t.endsWith(insecureSuffix) ? insecureSuffix : ''}`;
  return [targets[0]!, ...(targets.includes(ceph) ? [ceph] : [])];
}

/** The result table: each target's value with its ratio to qemu-nbd and, when present, to the Ceph of its kind. */
function table(targets: readonly string[], results: Map<string, FioResult>): string {
  const head = ['workload', ...targets.map((t) => (refsOf(t, targets).length === 0 ? t : `${t} (x ${refsOf(t, targets).join(', x ')})`))];
  const rows = [prefillJob, ...jobs].map((job) => [`${job.name} (${job.unit})`, ...targets.map((t) => {
    const r = results.get(`${job.name}|${t}`);
    const refs = refsOf(t, targets);
    if (refs.length === 0 || r === undefined) return cell(r, job);
    const ratios = refs.map((ref) => (value(r, job) / value(results.get(`${job.name}|${ref}`), job)).toFixed(2));
    return `${cell(r, job)} (${ratios.join(', ')})`;
  })]);
  const p99 = [prefillJob, ...jobs].map((job) => [`${job.name} p99 ms`, ...targets.map((t) => results.get(`${job.name}|${t}`)?.p99Ms.toFixed(2) ?? '-')]);
  return markdown(head, [...rows, ...p99]);
}

/**
 * Each secure Basalt target's value over its insecure twin's, and the encrypted volume's over the
 * plain one's on each cluster: throughput, then CPU seconds per unit of work (per op or MiB: of
 * all the cluster's processes), which other load on the machine skews less.
 */
function securityTable(targets: readonly string[], results: Map<string, FioResult>, cpu: Map<string, number>, runtimeS: number): string {
  const pairs: [string, string, string][] = targets
    .filter((t) => t.startsWith('basalt') && !t.endsWith(insecureSuffix) && targets.includes(`${t}${insecureSuffix}`))
    .map((t) => [`${t}: secure / insecure`, t, `${t}${insecureSuffix}`]);
  for (const suffix of ['', insecureSuffix]) {
    if (targets.includes(`${encryptedTarget}${suffix}`)) pairs.push([`encrypted / plain${suffix}`, `${encryptedTarget}${suffix}`, `basalt 3-replica${suffix}`]);
  }
  // The prefill writes the whole volume on every target: its CPU seconds compare as they are.
  const work = (job: FioJob, t: string): number => (job === prefillJob ? 1 : value(results.get(`${job.name}|${t}`), job) * runtimeS);
  const cpuPerWork = (job: FioJob, t: string): number => (cpu.get(`${job.name}|${t}`) ?? NaN) / work(job, t);
  const rows = [prefillJob, ...jobs].map((job) => [`${job.name} (${job.unit})`, ...pairs.map(([, a, b]) => {
    const ratio = value(results.get(`${job.name}|${a}`), job) / value(results.get(`${job.name}|${b}`), job);
    const cpuRatio = cpuPerWork(job, a) / cpuPerWork(job, b);
    return Number.isNaN(ratio) ? '-' : `${ratio.toFixed(2)} (CPU/op ${cpuRatio.toFixed(2)})`;
  })]);
  return markdown(['workload', ...pairs.map(([label]) => `${label}: throughput (CPU per op)`)], rows);
}

function markdown(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** CPU seconds of a target's processes (all of its system's, shared with the system's other targets). */
function cpuOf(t: NbdTarget): number {
  return t.processes().reduce((sum, p) => sum + (cpuSeconds(p.pid) ?? 0), 0);
}

/** The systems measured, each with one of its targets (Basalt's targets share one cluster's processes). */
function systems(targets: readonly NbdTarget[]): Map<string, NbdTarget> {
  const bySystem = new Map<string, NbdTarget>();
  for (const t of targets) {
    const system = t.name.startsWith('basalt') ? `basalt cluster${t.name.endsWith(insecureSuffix) ? insecureSuffix : ''}` : t.name;
    if (!bySystem.has(system)) bySystem.set(system, t);
  }
  return bySystem;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runtime: { type: 'string' }, size: { type: 'string' }, quick: { type: 'boolean', default: false }, 'with-ceph': { type: 'boolean', default: false }, encrypt: { type: 'boolean', default: false }, 'compare-insecure': { type: 'boolean', default: false }, 'page-cache-full': { type: 'boolean', default: false } } });
  const runtimeS = Number(values.runtime ?? (values.quick ? 3 : 10));
  const sizeBytes = parseSize(values.size ?? (values.quick ? '256M' : '1G'));
  if (!(runtimeS > 0 && runtimeS <= 600)) throw new Error('--runtime must be 1..600 seconds');
  const missing = missingPackages([['fio', 'fio'], ['qemu-nbd', 'qemu-utils'], ['nbdkit', 'nbdkit']]);
  if (missing.length > 0) throw new Error(`bench:nbd needs Debian packages that are not installed: apt-get install ${missing.join(' ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'basalt-bench-nbd-'));
  const file = join(dir, 'local.img');
  const fd = openSync(file, 'w');
  ftruncateSync(fd, sizeBytes);
  closeSync(fd);
  const targets: NbdTarget[] = [];
  let down: (() => Promise<void>) | undefined;
  const results = new Map<string, FioResult>();
  const cpu = new Map<string, number>();
  const freeAtPrefill = new Map<string, number>();
  try {
    targets.push(await startReference('qemu-nbd', file));
    targets.push(await startReference('nbdkit', file));
    if (values['with-ceph']) {
      const missing = missingCephPackages();
      if (missing.length > 0) log(`--with-ceph: SKIPPED, Ceph is not installed (apt-get install ${missing.join(' ')}); the run goes on without it`);
      else {
        targets.push(await startCeph(join(dir, 'ceph'), { sizeBytes, secure: true, suffix: '' }, log));
        if (values['compare-insecure']) targets.push(await startCeph(join(dir, 'ceph-insecure'), { sizeBytes, secure: false, suffix: insecureSuffix }, log));
      }
    }
    // Below Linux's ephemeral ports (32768 and up), which outgoing connections take: up uses base..base+40.
    const basePort = 20_000 + ((await freePort()) % 12_000);
    log(`starting a local Basalt cluster in ${dir}/cluster (ports from ${basePort})`);
    const basalt = await startBasalt(cli, join(dir, 'cluster'), sizeBytes, basePort, await freePort(), values.encrypt);
    const downs = [basalt.down];
    down = async () => {
      for (const d of downs) await d();
    };
    targets.push(...basalt.targets);
    if (values['compare-insecure']) {
      const insecurePort = basePort + 50;
      log(`starting a second local Basalt cluster with --insecure in ${dir}/cluster-insecure (ports from ${insecurePort})`);
      const plain = await startBasalt(cli, join(dir, 'cluster-insecure'), sizeBytes, insecurePort, await freePort(), values.encrypt, true);
      downs.push(plain.down);
      targets.push(...plain.targets);
    }
    const pageCacheFilledMiB = values['page-cache-full'] ? await fillPageCache(join(dir, 'page-cache-fill.bin'), pageCacheHeadroomMiB, log) : 0;
    const total = targets.length * (jobs.length + 1);
    let done = 0;
    const step = async (job: FioJob, t: NbdTarget, timeBased: boolean): Promise<void> => {
      log(`[${++done}/${total}] ${job.name} on ${t.name} (${timeBased ? `${runtimeS} s` : `${sizeBytes / 2 ** 20} MiB`})...`);
      try {
        await execFileAsync('sync');
        if (job === prefillJob) freeAtPrefill.set(t.name, memFreeMiB());
        const cpu0 = cpuOf(t);
        const r = await runFio(t.uri, job, sizeBytes, runtimeS, timeBased, dir);
        results.set(`${job.name}|${t.name}`, r);
        cpu.set(`${job.name}|${t.name}`, cpuOf(t) - cpu0);
        log(`    ${cell(r, job)}, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ${(cpuOf(t) - cpu0).toFixed(1)} CPU s`);
      } catch (err) {
        log(`    FAILED: ${String(err)}`);
      }
    };
    for (const t of targets) await step(prefillJob, t, false);
    for (const job of jobs) for (const t of targets) await step(job, t, true);
    const names = targets.map((t) => t.name);
    const cpuTable = markdown(['workload', ...names], [prefillJob, ...jobs].map((job) => [job.name, ...names.map((n) => cpu.get(`${job.name}|${n}`)?.toFixed(1) ?? '-')]));
    const rss = [...systems(targets)].map(([system, t]) => `${system}: ${t.processes().map((p) => `${p.name} ${((peakRssKiB(p.pid ?? 0) ?? NaN) / 1024).toFixed(0)}`).join(', ')}`);
    const when = new Date().toISOString();
    const legend = 'basalt 1-/3-replica: the default agent (write-through); basalt 3-replica writeback: an agent with --write-cache writeback (opt-in, docs/nbd.md)';
    const free = `${[...freeAtPrefill].map(([n, mib]) => `${n} ${mib}`).join(', ')}${pageCacheFilledMiB > 0 ? ` (--page-cache-full: ${pageCacheFilledMiB} MiB of clean page cache read in before the first cell)` : ''}`;
    process.stdout.write(`\nNBD benchmark (fio ${runtimeS} s per cell, ${sizeBytes / 2 ** 20} MiB volumes/file, ${when})\n${legend}\n\n${table(names, results)}\n\nFree memory at the start of each prefill cell (MemFree, MiB): ${free}\n\nCPU seconds per cell, all of a system's processes (a system's targets share them):\n\n${cpuTable}\n\nPeak RSS (VmHWM, MiB): ${rss.join('; ')}\n`);
    if (values['compare-insecure']) process.stdout.write(`\nSecurity cost: each secure Basalt row / the same row on the --insecure cluster (1.00 = no cost)${values.encrypt ? '; encrypted / plain 3-replica on each cluster' : ''}\n\n${securityTable(names, results, cpu, runtimeS)}\n`);
    mkdirSync(join(root, 'bench/out'), { recursive: true });
    writeFileSync(join(root, `bench/out/nbd-${when.replace(/[:.]/g, '-')}.json`), JSON.stringify({ runtimeS, sizeBytes, results: Object.fromEntries(results), cpuSeconds: Object.fromEntries(cpu), memFreeMiBAtPrefill: Object.fromEntries(freeAtPrefill), pageCacheFilledMiB, rss }, null, 2));
  } finally {
    for (const t of targets) await t.stop();
    await down?.();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
