import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { repoRoot } from './lib/process.js';

/** The SDK README's examples (packages/client/examples) run against a real cluster, so they cannot rot. */
const { scope, keep } = clusterScope();

function runExample(file: string, metad: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', join(repoRoot, 'packages/client/examples', file)], {
      cwd: repoRoot, env: { ...process.env, BASALT_METAD: metad.join(',') }, timeout: 300_000,
    }, (err, stdout, stderr) => (err ? reject(new Error(`${file}: ${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

describe('the SDK examples', () => {
  it('quickstart.ts and concurrent-io.ts run and print what the README says', { timeout: 600_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope));
    const quick = await runExample('quickstart.ts', cluster.metaEndpoints);
    expect(quick).toMatch(/quickstart: 1073741824 bytes, 3 replicas, writer generation \d+/);
    expect(quick).toMatch(/read back: hello, basalt/);
    expect(quick).toMatch(/hole: true/);
    const concurrent = await runExample('concurrent-io.ts', cluster.metaEndpoints);
    expect(concurrent).toMatch(/read back equal: true/);
    expect(concurrent).toMatch(/after trim, first byte: 0/);
    expect(concurrent).toMatch(/second writer refused: BASALT_LEASE_CONFLICT/);
    expect(concurrent).toMatch(/read past the end refused: BASALT_OUT_OF_RANGE/);
  });
});
