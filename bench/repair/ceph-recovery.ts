import { peakRssKiB } from '../lib/proc-stats.js';
import { startCephCluster, type CephCluster } from '../nbd/ceph.js';

const MiB = 2 ** 20;
/** How long a recovery may take before the run gives up on it. */
const recoveryTimeoutMs = 900_000;
/** How long to wait for the placement groups to notice a killed OSD (the mgr reports every second here). */
const noticeTimeoutMs = 60_000;

/** One recovery of Ceph's: an OSD killed and marked out, timed until every placement group is active+clean again. */
export interface CephRecovery {
  readonly label: string;
  /** Bytes the placement groups that had a copy on the killed OSD held (what had to be copied again). */
  readonly bytes: number;
  readonly seconds: number;
}

export interface CephRecoveryResult {
  readonly fillMiBPerS: number;
  readonly runs: CephRecovery[];
  /** Peak RSS (VmHWM) of each Ceph process, MiB, sampled before each kill and at the end. */
  readonly peakRssMiB: Record<string, number>;
}

/**
 * Two settings, each one recovery on the same cluster: Ceph's defaults (`osd_max_backfills` 1,
 * `osd_recovery_max_active_ssd` 10, no recovery sleep on SSDs), then with its throttles opened
 * (16 backfills and recoveries per OSD), Basalt's "no budget" counterpart. Between the two, the
 * first victim comes back and the cluster is clean again.
 */
const settings: readonly { label: string; config: readonly [string, string][] }[] = [
  { label: 'Ceph defaults', config: [] },
  { label: 'Ceph, throttles opened', config: [['osd_max_backfills', '16'], ['osd_recovery_max_active', '16'], ['osd_recovery_sleep', '0']] },
];

/**
 * Ceph's side of `bench:repair`: a single-host Ceph with four BlueStore OSDs (so that a killed
 * one's copies have somewhere to go, as Basalt's four chunk servers), pool size 3, an image of
 * sizeBytes written in full with `rbd bench`, then per setting: one OSD killed (SIGKILL), marked
 * down and out at once, and the time until every placement group is active+clean.
 */
export async function cephRecovery(dir: string, sizeBytes: number, log: (line: string) => void): Promise<CephRecoveryResult> {
  const cluster = await startCephCluster(dir, { osds: 4, sizeBytes, secure: false, extraConf: ['mgr stats period = 1'] }, log);
  const peak: Record<string, number> = {};
  const sampleRss = (): void => {
    for (const p of cluster.processes()) {
      const kib = p.pid === undefined ? undefined : peakRssKiB(p.pid);
      if (kib !== undefined) peak[p.name] = Math.max(peak[p.name] ?? 0, Math.round(kib / 1024));
    }
  };
  try {
    log(`ceph: writing the ${sizeBytes / MiB} MiB image in full (rbd bench, 4 MiB writes, 8 in flight)`);
    const filled = performance.now();
    await cluster.rbd(['bench', '--io-type', 'write', '--io-pattern', 'seq', '--io-size', '4M', '--io-threads', '8', '--io-total', String(sizeBytes), 'rbd/bench'], 1_800_000);
    const fillMiBPerS = sizeBytes / MiB / ((performance.now() - filled) / 1000);
    await cluster.waitClean();
    await waitStatsCover(cluster, sizeBytes);
    const runs: CephRecovery[] = [];
    for (const [i, setting] of settings.entries()) {
      for (const [key, value] of setting.config) await cluster.ceph(['config', 'set', 'osd', key, value]);
      const victim = cluster.osdIds[i]!;
      const bytes = await bytesOnOsd(cluster, Number(victim));
      sampleRss();
      log(`ceph (${setting.label}): killing osd.${victim} and marking it out (${(bytes / MiB).toFixed(0)} MiB of placement groups had a copy on it)`);
      const started = performance.now();
      await cluster.stopOsd(victim);
      await cluster.ceph(['osd', 'down', `osd.${victim}`]);
      await cluster.ceph(['osd', 'out', `osd.${victim}`]);
      await waitNotClean(cluster);
      await cluster.waitClean(recoveryTimeoutMs);
      const seconds = (performance.now() - started) / 1000;
      runs.push({ label: setting.label, bytes, seconds });
      log(`ceph (${setting.label}): active+clean after ${seconds.toFixed(1)} s (${(bytes / MiB / seconds).toFixed(0)} MiB/s)`);
      if (i < settings.length - 1) {
        log(`ceph: osd.${victim} back in, waiting for the cluster to be clean again`);
        cluster.startOsd(victim);
        await cluster.ceph(['osd', 'in', `osd.${victim}`]);
        await waitNotClean(cluster);
        await cluster.waitClean(recoveryTimeoutMs);
      }
    }
    sampleRss();
    return { fillMiBPerS, runs, peakRssMiB: peak };
  } finally {
    await cluster.stop();
  }
}

interface PgStat {
  acting?: number[];
  stat_sum?: { num_bytes?: number };
}

async function pgStats(cluster: CephCluster): Promise<PgStat[]> {
  const dump = JSON.parse(await cluster.ceph(['pg', 'dump', 'pgs', '-f', 'json'])) as PgStat[] | { pg_stats?: PgStat[] };
  return Array.isArray(dump) ? dump : (dump.pg_stats ?? []);
}

const bytesOf = (pgs: readonly PgStat[]): number => pgs.reduce((sum, pg) => sum + (pg.stat_sum?.num_bytes ?? 0), 0);

/** The bytes of every placement group whose acting set holds osd `id`. */
async function bytesOnOsd(cluster: CephCluster, id: number): Promise<number> {
  return bytesOf((await pgStats(cluster)).filter((pg) => pg.acting?.includes(id) === true));
}

/** Waits until the placement groups' reported bytes cover the image just written (the OSDs report them to the mgr a moment later). */
async function waitStatsCover(cluster: CephCluster, bytes: number): Promise<void> {
  const deadline = Date.now() + noticeTimeoutMs;
  while (bytesOf(await pgStats(cluster)) < bytes) {
    if (Date.now() > deadline) throw new Error(`ceph: placement groups report under ${bytes} bytes ${noticeTimeoutMs / 1000} s after the image was written`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Waits until the placement groups report the change (some not active+clean), so that an old "all clean" does not end the timing. */
async function waitNotClean(cluster: CephCluster): Promise<void> {
  const deadline = Date.now() + noticeTimeoutMs;
  while (Date.now() < deadline) {
    const pgs = await cluster.pgCounts();
    if (pgs.clean !== pgs.total) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`ceph: no placement group left active+clean within ${noticeTimeoutMs / 1000} s of the change`);
}
