import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { chunkdHeapFlags } from './heap-flags.js';

describe('chunkd heap flags', () => {
  // setFlagsFromString ignores a flag this V8 does not know, saying so only on stderr.
  it('are all flags this V8 knows', () => {
    const out = spawnSync(process.execPath, ['-e', `require('node:v8').setFlagsFromString(${JSON.stringify(chunkdHeapFlags)})`], { encoding: 'utf8', timeout: 30_000 });
    expect(out.status).toBe(0);
    expect(out.stderr).toBe('');
  });

  it('a misspelt flag would be reported (the check above can fail)', () => {
    const out = spawnSync(process.execPath, ['-e', `require('node:v8').setFlagsFromString('--heap-growing-percnt=100')`], { encoding: 'utf8', timeout: 30_000 });
    expect(out.stderr).toContain('unrecognized flag');
  });
});
