// Preloaded with NODE_OPTIONS=--import (where --trace-gc is not allowed): records every garbage
// collection of the process (wall-clock start in ms, duration in ms, kind) and appends them to
// GC_LOG_DIR/<pid>.gc every 200 ms, so that a member killed later keeps what it recorded.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const kinds = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
const file = join(process.env.GC_LOG_DIR ?? '.', `${process.pid}.gc`);
let lines = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) lines.push(`${(performance.timeOrigin + e.startTime).toFixed(3)} ${e.duration.toFixed(3)} ${kinds[e.detail?.kind] ?? e.detail?.kind}`);
}).observe({ entryTypes: ['gc'] });
const flush = () => {
  if (lines.length === 0) return;
  appendFileSync(file, `${lines.join('\n')}\n`);
  lines = [];
};
setInterval(flush, 200).unref();
process.on('exit', flush);
