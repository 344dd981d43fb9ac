import { formatFailure, runSimulationCatching, type SimOptions, type SimResult } from './simulation.js';

/** Totals over many simulated runs. */
export interface SwarmSummary {
  readonly runs: number;
  readonly passed: number;
  readonly failed: readonly SimResult[];
  readonly faults: Readonly<Record<string, number>>;
  readonly elections: number;
  readonly commits: number;
  readonly readsChecked: number;
  readonly opsChecked: number;
  readonly snapshotsInstalled: number;
  readonly ticks: number;
}

/**
 * Runs `count` seeds from `firstSeed` with the same options; `onResult` sees each run as it
 * ends. A seed that throws is a failure like any other: the swarm goes on to the next seed.
 */
export function runSwarm(
  base: Omit<SimOptions, 'seed'>,
  firstSeed: number,
  count: number,
  onResult?: (r: SimResult) => void,
): SwarmSummary {
  const faults: Record<string, number> = {};
  const failed: SimResult[] = [];
  let elections = 0;
  let commits = 0;
  let readsChecked = 0;
  let opsChecked = 0;
  let snapshotsInstalled = 0;
  let ticks = 0;
  for (let seed = firstSeed; seed < firstSeed + count; seed++) {
    const r = runSimulationCatching({ ...base, seed });
    onResult?.(r);
    if (!r.ok) failed.push(r);
    for (const [k, v] of Object.entries(r.stats.faults)) faults[k] = (faults[k] ?? 0) + v;
    elections += r.stats.elections;
    commits += r.stats.commits;
    readsChecked += r.stats.readsChecked;
    opsChecked += r.stats.opsChecked;
    snapshotsInstalled += r.stats.snapshotsInstalled;
    ticks += r.stats.ticks;
  }
  return { runs: count, passed: count - failed.length, failed, faults, elections, commits, readsChecked, opsChecked, snapshotsInstalled, ticks };
}

/** Every failure with its seed and replay command, for test messages and the CLI. */
export function describeFailures(summary: SwarmSummary): string {
  return summary.failed.map(formatFailure).join('\n');
}
