import type { FailoverResult, PhaseResult } from './workload.js';

/** Everything measured for one system. */
export interface SystemResult {
  readonly system: string;
  readonly phases: readonly PhaseResult[];
  readonly failover: FailoverResult;
  /** Member name -> peak RSS in KiB. */
  readonly peakRssKiB: ReadonlyMap<string, number>;
}

interface Row {
  readonly metric: string;
  /** Which way is better, shown beside the ratio. */
  readonly better: 'higher' | 'lower';
  value(r: SystemResult): number;
  format(v: number): string;
}

const ops = (v: number): string => `${v.toFixed(0)}/s`;
const ms = (v: number): string => `${v.toFixed(1)} ms`;
const cpuMs = (v: number): string => `${v.toFixed(2)} ms`;
const mib = (v: number): string => `${(v / 1024).toFixed(0)} MiB`;

function phase(r: SystemResult, label: string): PhaseResult {
  const p = r.phases.find((x) => x.label === label);
  if (p === undefined) throw new Error(`${r.system}: no phase ${label}`);
  return p;
}

function rows(labels: readonly string[]): Row[] {
  const out: Row[] = [];
  for (const label of labels) {
    out.push({ metric: `${label} throughput`, better: 'higher', value: (r) => phase(r, label).opsPerSec, format: ops });
    out.push({ metric: `${label} p50`, better: 'lower', value: (r) => phase(r, label).p50Ms, format: ms });
    out.push({ metric: `${label} p99`, better: 'lower', value: (r) => phase(r, label).p99Ms, format: ms });
    out.push({ metric: `${label} server CPU per op`, better: 'lower', value: (r) => (phase(r, label).serverCpuSeconds * 1000) / phase(r, label).ops, format: cpuMs });
    out.push({ metric: `${label} client CPU per op`, better: 'lower', value: (r) => (phase(r, label).clientCpuSeconds * 1000) / phase(r, label).ops, format: cpuMs });
  }
  out.push({ metric: 'failover: kill -9 leader -> first write (median)', better: 'lower', value: (r) => r.failover.medianMs, format: ms });
  out.push({ metric: 'failover (max)', better: 'lower', value: (r) => r.failover.maxMs, format: ms });
  out.push({ metric: 'peak RSS per member (max of 3)', better: 'lower', value: (r) => Math.max(...r.peakRssKiB.values()), format: mib });
  return out;
}

function table(header: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

/**
 * One Markdown table, a column per system and, with two systems, the ratio second/first
 * (">1 is better" or "<1 is better" depending on the row).
 */
export function renderTable(results: readonly SystemResult[]): string {
  const labels = results[0]?.phases.map((p) => p.label) ?? [];
  const twoSystems = results.length === 2;
  const header = ['metric', ...results.map((r) => r.system)];
  if (twoSystems) header.push(`${results[1]!.system}/${results[0]!.system}`);
  const body = rows(labels).map((row) => {
    const values = results.map((r) => row.value(r));
    const cells = [row.metric, ...values.map((v) => row.format(v))];
    if (twoSystems) cells.push(`${(values[1]! / values[0]!).toFixed(2)} (${row.better === 'higher' ? '>1' : '<1'} better)`);
    return cells;
  });
  return table(header, body);
}

/** Per-member peak RSS and per-phase error counts, printed under the table. */
export function renderDetails(results: readonly SystemResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const rss = [...r.peakRssKiB].map(([name, kib]) => `${name} ${(kib / 1024).toFixed(0)} MiB`).join(', ');
    const errors = r.phases.map((p) => `${p.label}: ${p.ops} ops in ${p.seconds.toFixed(1)} s, ${p.errors} errors`).join('; ');
    const trials = r.failover.trialsMs.map((t) => t.toFixed(0)).join(', ');
    lines.push(`${r.system}: peak RSS ${rss}`, `${r.system}: ${errors}`, `${r.system}: failover trials ${trials} ms`);
  }
  return lines.join('\n');
}
