/**
 * The SDK's basalt_client_mutation_duration_seconds histogram (by path: what happened to each
 * mutation request) read from the agent's /metrics page, and the difference of two readings: how
 * the foreground writes of one phase split by cause, and which cause owns the tail.
 */
const metric = 'basalt_client_mutation_duration_seconds';

/** Path -> cumulative bucket counts by upper bound in seconds (+Inf included), and the sum of seconds. */
export type PathHistograms = Map<string, { buckets: Map<number, number>; sumS: number }>;

export async function readPaths(address: string): Promise<PathHistograms> {
  const text = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text()).catch(() => '');
  const out: PathHistograms = new Map();
  const of = (path: string): { buckets: Map<number, number>; sumS: number } => {
    let h = out.get(path);
    if (h === undefined) out.set(path, (h = { buckets: new Map(), sumS: 0 }));
    return h;
  };
  for (const line of text.split('\n')) {
    const path = /path="([a-z_]+)"/.exec(line)?.[1];
    if (path === undefined) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith(`${metric}_bucket{`)) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      if (le !== undefined) of(path).buckets.set(le === '+Inf' ? Infinity : Number(le), value);
    } else if (line.startsWith(`${metric}_sum{`)) {
      of(path).sumS = value;
    }
  }
  return out;
}

/** What happened between two readings. */
export function pathsBetween(before: PathHistograms, after: PathHistograms): PathHistograms {
  const out: PathHistograms = new Map();
  for (const [path, h] of after) {
    const b = before.get(path);
    const buckets = new Map([...h.buckets].map(([le, n]) => [le, n - (b?.buckets.get(le) ?? 0)]));
    out.set(path, { buckets, sumS: h.sumS - (b?.sumS ?? 0) });
  }
  return out;
}

export interface PathSummary {
  readonly path: string;
  readonly count: number;
  readonly meanMs: number;
  /** Requests of this path slower than `overMs`. */
  readonly over: number;
}

/**
 * Per path: requests, mean, and how many took longer than the last bucket bound at or below
 * `tailMs` (the phase's p99 as fio measured it): who owns the tail.
 */
export function summarize(paths: PathHistograms, tailMs: number): { overMs: number; rows: PathSummary[] } {
  const bounds = [...new Set([...paths.values()].flatMap((h) => [...h.buckets.keys()]))].sort((a, b) => a - b);
  const overS = bounds.filter((le) => le * 1000 <= tailMs).at(-1) ?? 0;
  const rows: PathSummary[] = [];
  for (const [path, h] of paths) {
    const count = h.buckets.get(Infinity) ?? 0;
    if (count === 0) continue;
    rows.push({ path, count, meanMs: (1000 * h.sumS) / count, over: count - (h.buckets.get(overS) ?? 0) });
  }
  return { overMs: overS * 1000, rows: rows.sort((a, b) => b.count - a.count) };
}

export function describePaths(summary: { overMs: number; rows: readonly PathSummary[] }): string {
  if (summary.rows.length === 0) return 'no mutation counted';
  const total = summary.rows.reduce((n, r) => n + r.count, 0);
  const over = summary.rows.reduce((n, r) => n + r.over, 0);
  const cells = summary.rows.map((r) => `${r.path} ${r.count} (${((100 * r.count) / total).toFixed(1)} %, mean ${r.meanMs.toFixed(2)} ms, ${r.over} over ${summary.overMs.toFixed(0)} ms)`);
  return `${cells.join('; ')}; ${over} of ${total} over ${summary.overMs.toFixed(0)} ms`;
}
