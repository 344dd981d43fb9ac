import { afterAll, describe, expect, it } from 'vitest';
import { main } from '@basalt/cli';
import { captureIo } from '@basalt/cli/testing';
import { ProcessScope, runCli } from './lib/process.js';

/**
 * What a test sees of the machine it runs on: no BASALT_* variables, and no cluster file in the
 * working directory of the CLI it runs (in this process or as a child). On its own this passes
 * trivially; test/hermetic.test.ts runs it with a stopped local cluster's ./.basalt/cluster.json
 * in the working directory and BASALT_METAD, BASALT_CLUSTER and BASALT_AGENT set.
 */
const scope = new ProcessScope();
afterAll(() => scope.cleanup());

describe('a test finds no cluster it did not start', () => {
  it('sees no BASALT_* variable', () => {
    expect(Object.keys(process.env).filter((name) => name.startsWith('BASALT_'))).toEqual([]);
  });

  it('runs the CLI in process without a cluster: main() asks for one', async () => {
    const io = captureIo();
    expect(await main(['volume', 'ls', '--json'], io)).toBe(2);
    expect(io.stderr).toContain('no cluster given');
  });

  it('runs the CLI as a child without a cluster: runCli and ProcessScope.spawnCli ask for one', async () => {
    const once = await runCli(['volume', 'ls', '--json'], { timeoutMs: 60_000 });
    expect(once.code).toBe(2);
    expect((JSON.parse(once.stdout) as { error: { code: string } }).error.code).toBe('BASALT_INVALID_ARGUMENT');
    expect(once.stderr).toContain('no cluster given');
    const spawned = scope.spawnCli('volume-ls', ['volume', 'ls']);
    expect((await spawned.exited).code).toBe(2);
    expect(spawned.log()).toContain('no cluster given');
  });
});
