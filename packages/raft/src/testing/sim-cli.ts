/**
 * `pnpm sim`: runs a swarm of seeded simulations and prints what they did.
 *   pnpm sim --seeds 200 --nodes 5            seeds 1..200
 *   pnpm sim --seed 1234 --nodes 5            replay one seed (add --trace to print its events)
 *   pnpm sim --seeds 50 --seed 1000           seeds 1000..1049
 * Exits 1 when a run fails (each failure prints SEED=... and its replay command), 2 on bad arguments.
 */
import { parseArgs } from 'node:util';
import { unsafeTestingKnobNames, type UnsafeTestingKnob, type UnsafeTestingKnobs } from '../core/types.js';
import { formatFailure, profiles, type ProfileName, type SimOptions } from './simulation.js';
import { runSwarm, type SwarmSummary } from './swarm.js';

const usage = `usage: pnpm sim [--seeds N] [--seed S] [--nodes 3|5] [--profile ${Object.keys(profiles).join('|')}]
                [--unsafe KNOB,...] [--fault-ticks T] [--liveness-ticks T]
                [--clients C] [--trace] [--verbose]
  KNOB (protocol breakers, see docs/raft.md): ${[...unsafeTestingKnobNames, 'localReads'].join(', ')}`;

function fail(message: string): never {
  console.error(`sim: ${message}\n${usage}`);
  process.exit(2);
}

function positiveInt(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got '${value}'`);
  return n;
}

function parseUnsafe(value: string | undefined): Pick<SimOptions, 'knobs' | 'unsafeLocalReads'> {
  if (value === undefined) return {};
  const knobs: UnsafeTestingKnobs = {};
  let unsafeLocalReads = false;
  for (const name of value.split(',')) {
    if ((unsafeTestingKnobNames as readonly string[]).includes(name)) knobs[name as UnsafeTestingKnob] = true;
    else if (name === 'localReads') unsafeLocalReads = true;
    else fail(`--unsafe takes ${[...unsafeTestingKnobNames, 'localReads'].join(', ')}, got '${name}'`);
  }
  return { knobs, unsafeLocalReads };
}

function parseOptions(): { base: Omit<SimOptions, 'seed'>; first: number; count: number; verbose: boolean } {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      nodes: { type: 'string' },
      profile: { type: 'string' },
      unsafe: { type: 'string' },
      'fault-ticks': { type: 'string' },
      'liveness-ticks': { type: 'string' },
      clients: { type: 'string' },
      trace: { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true) {
    console.log(usage);
    process.exit(0);
  }
  const nodes = positiveInt('nodes', values.nodes, 3);
  if (nodes !== 3 && nodes !== 5) fail(`--nodes must be 3 or 5, got ${nodes}`);
  const profile = values.profile ?? 'default';
  if (!(profile in profiles)) fail(`--profile must be one of ${Object.keys(profiles).join(', ')}, got '${profile}'`);
  const base: Omit<SimOptions, 'seed'> = {
    nodes,
    profile: profile as ProfileName,
    ...parseUnsafe(values.unsafe),
    ...(values['fault-ticks'] === undefined ? {} : { faultTicks: positiveInt('fault-ticks', values['fault-ticks'], 0) }),
    ...(values['liveness-ticks'] === undefined ? {} : { livenessTicks: positiveInt('liveness-ticks', values['liveness-ticks'], 0) }),
    ...(values.clients === undefined ? {} : { clients: positiveInt('clients', values.clients, 0) }),
    ...(values.trace === true ? { onTrace: (line: string) => console.log(`  ${line}`) } : {}),
  };
  // --seed alone replays one seed; with --seeds it is the first of the range.
  const first = positiveInt('seed', values.seed, 1, 0);
  const count = positiveInt('seeds', values.seeds, values.seed === undefined ? 100 : 1);
  return { base, first, count, verbose: values.verbose === true || values.trace === true };
}

function printSummary(s: SwarmSummary, first: number): void {
  const faults = Object.entries(s.faults).sort(([a], [b]) => (a < b ? -1 : 1));
  const injected = faults.reduce((n, [, v]) => n + v, 0);
  console.log(`seeds run: ${s.runs} (${first}..${first + s.runs - 1}), simulated ticks: ${s.ticks}`);
  console.log(`faults injected: ${injected} (${faults.map(([k, v]) => `${k} ${v}`).join(', ')})`);
  console.log(`elections: ${s.elections}, commits: ${s.commits}, snapshots installed: ${s.snapshotsInstalled}`);
  console.log(`operations checked for linearizability: ${s.opsChecked}, reads checked: ${s.readsChecked}`);
  if (s.failed.length > 0) console.log(`failed:\n${s.failed.map((r) => `  SEED=${r.seed} ${r.violations.map((v) => v.kind).join(',')}: ${r.replay}`).join('\n')}`);
  console.log(`${s.passed} seeds passed, ${s.failed.length} failed`);
}

function main(): void {
  const { base, first, count, verbose } = parseOptions();
  const progressEvery = Math.max(1, Math.floor(count / 10));
  let done = 0;
  let failed = 0;
  const summary = runSwarm(base, first, count, (r) => {
    done++;
    if (!r.ok) failed++;
    if (!r.ok) console.log(formatFailure(r));
    else if (verbose) console.log(`seed ${r.seed}: ok, trace ${r.traceDigest}, ${JSON.stringify(r.stats)}`);
    if (done % progressEvery === 0 && done < count) console.error(`sim: ${done}/${count} seeds run, ${failed} failed so far`);
  });
  printSummary(summary, first);
  process.exitCode = summary.failed.length === 0 ? 0 : 1;
}

main();
