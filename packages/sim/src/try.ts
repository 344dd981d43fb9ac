import { runClusterSim } from './index.js';
const knob = process.argv[2]!;
const n = Number(process.argv[3] ?? 20);
const faultMs = Number(process.argv[4] ?? 8000);
const t = Date.now();
for (let seed = 1; seed <= n; seed++) {
  const r = await runClusterSim({ seed, faultMs, knobs: knob === 'none' ? {} : { [knob]: true } });
  console.log(seed, r.ok ? 'ok' : r.violations.map((v) => v.kind).join(','), r.ok ? JSON.stringify(r.stats.faults) : r.violations[0]!.message.slice(0, 400));
}
console.log(Date.now() - t, 'ms');
