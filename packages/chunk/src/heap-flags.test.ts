import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { chunkdHeapFlags } from './heap-flags.js';

/**
 * A child process receives 48 MiB the way a chunk server does over TLS (fresh 16 KiB buffers,
 * copied into a reused frame, some objects per chunk, the last few thousand still in flight) and reports its young generation's size
 * and what V8 printed about the flags (an unknown flag is reported on stderr and ignored).
 */
const churn = `
import { setFlagsFromString, getHeapSpaceStatistics } from 'node:v8';
if (process.env.HEAP_FLAGS !== '') setFlagsFromString(process.env.HEAP_FLAGS);
const frame = Buffer.allocUnsafeSlow(1 << 20);
const inflight = new Array(8192);
let sink = 0;
for (let f = 0; f < 48; f++) {
  for (let c = 0; c < 64; c++) {
    const chunk = Buffer.allocUnsafeSlow(16384);
    chunk.fill(c);
    chunk.copy(frame, c * 16384);
    const req = { f, c, crcs: new Uint32Array(4), name: 'request ' + f + '/' + c };
    inflight[(f * 64 + c) % inflight.length] = req;
    sink += req.crcs.length + chunk[0];
  }
  await new Promise((r) => setImmediate(r));
}
const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
console.log(JSON.stringify({ youngBytes: young.space_size, sink }));
`;

function run(flags: string): { youngBytes: number; stderr: string } {
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', churn], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, HEAP_FLAGS: flags } });
  expect(out.status).toBe(0);
  return { youngBytes: (JSON.parse(out.stdout) as { youngBytes: number }).youngBytes, stderr: out.stderr };
}

describe('chunkd heap flags', () => {
  it('are all flags this V8 knows', () => {
    expect(run(chunkdHeapFlags).stderr).toBe('');
  });

  it('keep the young generation at its initial size while data streams in (it grows without them)', () => {
    const initial = 2 * 1024 * 1024;
    expect(run(chunkdHeapFlags).youngBytes).toBeLessThanOrEqual(initial);
    expect(run('').youngBytes).toBeGreaterThan(initial);
  });
});
