/**
 * `pnpm sim:cluster`: runs a swarm of seeded whole-cluster simulations of the data path.
 *   pnpm sim:cluster --seeds 200                  seeds 1..200
 *   pnpm sim:cluster --seed 1234 --trace          replay one seed, printing its events
 *   pnpm sim:cluster --seeds 50 --seed 1000       seeds 1000..1049
 * Exits 1 when a run fails (each failure prints SEED=... and its replay command; the swarm goes
 * on and lists every failure at the end), 2 on bad arguments.
 */
import { parseArgs } from 'node:util';
import { chunkUnsafeTestingKnobNames, type ChunkUnsafeTestingKnob, type ChunkUnsafeTestingKnobs } from '@basalt/chunk/parts';
import { clusterDefaults, formatFailure, replayCommand, runClusterSim, type ClusterSimOptions, type ClusterSimResult } from './cluster-sim.js';

const usage = `usage: pnpm sim:cluster [--seeds N] [--seed S] [--fault-ms MS] [--unsafe KNOB,...] [--trace] [--verbose]
  --fault-ms   simulated milliseconds of faults per seed (default ${clusterDefaults.faultMs})
  KNOB (broken data-path rules, see docs/data-path.md "Simulation"): ${chunkUnsafeTestingKnobNames.join(', ')}`;

function fail(message: string): never {
  console.error(`sim:cluster: ${message}\n${usage}`);
  process.exit(2);
}

function int(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got '${value}'`);
  return n;
}

function knobs(value: string | undefined): ChunkUnsafeTestingKnobs {
  const out: Partial<Record<ChunkUnsafeTestingKnob, boolean>> = {};
  for (const name of value === undefined ? [] : value.split(',')) {
    if (!(chunkUnsafeTestingKnobNames as readonly string[]).includes(name)) fail(`--unsafe takes ${chunkUnsafeTestingKnobNames.join(', ')}, got '${name}'`);
    out[name as ChunkUnsafeTestingKnob] = true;
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      'fault-ms': { type: 'string' },
      unsafe: { type: 'string' },
      trace: { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true) {
    console.log(usage);
    return;
  }
  const first = int('seed', values.seed, 1, 0);
  const count = int('seeds', values.seeds, values.seed === undefined ? 100 : 1, 1);
  const base: Omit<ClusterSimOptions, 'seed'> = {
    faultMs: int('fault-ms', values['fault-ms'], clusterDefaults.faultMs, 0),
    knobs: knobs(values.unsafe),
    ...(values.trace === true ? { onTrace: (line: string) => console.log(`  ${line}`) } : {}),
  };
  const replayOptions = { knobs: base.knobs, ...(values['fault-ms'] === undefined ? {} : { faultMs: base.faultMs }) };
  const failed: ClusterSimResult[] = [];
  const faults: Record<string, number> = {};
  let steps = 0;
  let reads = 0;
  let ops = 0;
  const progressEvery = Math.max(1, Math.floor(count / 10));
  for (let seed = first; seed < first + count; seed++) {
    const r = await runClusterSim({ ...base, seed });
    steps += r.stats.steps;
    reads += r.stats.readsChecked;
    ops += r.stats.clientOps;
    for (const [k, v] of Object.entries(r.stats.faults)) faults[k] = (faults[k] ?? 0) + v;
    if (!r.ok) {
      failed.push(r);
      console.log(formatFailure(r, replayOptions));
    } else if (values.verbose === true || values.trace === true) console.log(`seed ${seed}: ok, trace ${r.traceHash}, ${JSON.stringify(r.stats)}`);
    const done = seed - first + 1;
    if (done % progressEvery === 0 && done < count) console.error(`sim:cluster: ${done}/${count} seeds run, ${failed.length} failed so far`);
  }
  const faultList = Object.entries(faults).sort(([a], [b]) => (a < b ? -1 : 1));
  console.log(`seeds run: ${count} (${first}..${first + count - 1}), simulated steps: ${steps}`);
  console.log(`faults injected: ${faultList.reduce((n, [, v]) => n + v, 0)} (${faultList.map(([k, v]) => `${k} ${v}`).join(', ')})`);
  console.log(`client operations: ${ops}, reads checked: ${reads}`);
  if (failed.length > 0) console.log(`failed:\n${failed.map((r) => `  SEED=${r.seed} ${[...new Set(r.violations.map((v) => v.kind))].join(',')}: ${replayCommand(r.seed, replayOptions)}`).join('\n')}`);
  console.log(`${count - failed.length} seeds passed, ${failed.length} failed`);
  process.exitCode = failed.length === 0 ? 0 : 1;
}

await main();
