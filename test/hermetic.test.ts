import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts, ProcessScope, repoRoot } from './lib/process.js';

/**
 * The suite's results do not depend on the machine's state: the README's path (`npm start`,
 * Ctrl-C, `npm test`) leaves a stopped cluster's ./.basalt/cluster.json in the checkout, and a
 * developer may have BASALT_METAD set. A child vitest runs the tests that once picked such state
 * up (the CLI's "no cluster given" and `basalt agent` flag checks, which then hung on the stopped
 * cluster) and the hermeticity probes, from a folder holding that cluster file, with BASALT_METAD,
 * BASALT_CLUSTER and BASALT_AGENT naming it; every test must pass as it does on a clean machine.
 */
const scope = new ProcessScope();
afterAll(() => scope.cleanup());

const files = ['packages/cli/src/main.test.ts', 'test/nbd-cli.test.ts', 'test/nbd-attach.test.ts', 'test/hermetic-cli.test.ts'];

interface VitestJson {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  testResults: { name: string; assertionResults: { title: string; status: string; failureMessages: string[] }[] }[];
}

/** A cluster file as `npm start` and Ctrl-C leave it: state stopped, pids 0, nothing on its ports. */
function writeStoppedCluster(dir: string, ports: number[]): string {
  const at = (i: number): string => `127.0.0.1:${ports[i]}`;
  const entry = (id: string, i: number): Record<string, unknown> => ({ id, address: at(i), metrics: at(i), dataDir: join(dir, id), log: join(dir, 'logs', `${id}.log`), pid: 0 });
  const file = {
    version: 1, dir, state: 'stopped', supervisorPid: 0,
    metad: ['m1', 'm2', 'm3'].map((id, i) => entry(id, i)),
    chunkd: ['c1', 'c2', 'c3'].map((id, i) => ({ ...entry(id, i), zone: `zone-${'abc'[i]}` })),
    agent: { id: 'agent', nbd: at(3), metrics: at(3), log: join(dir, 'logs', 'agent.log'), pid: 0 },
  };
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'cluster.json');
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}

function runVitest(cwd: string, env: NodeJS.ProcessEnv, outputFile: string): Promise<{ code: number | null; output: string }> {
  const args = [
    join(repoRoot, 'node_modules/vitest/vitest.mjs'), 'run', '--config', join(repoRoot, 'vitest.config.ts'), '--root', repoRoot,
    '--testTimeout', '30000', '--reporter', 'json', '--outputFile', outputFile, ...files,
  ];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, env, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, output: `${stdout}\n${stderr}` });
    });
  });
}

describe('hermetic tests', () => {
  it('a stray ./.basalt/cluster.json and BASALT_* variables do not change any result', { timeout: 300_000 }, async () => {
    const checkout = scope.tempDir('basalt-dev-checkout');
    const ports = await freePorts(4);
    const clusterFile = writeStoppedCluster(join(checkout, '.basalt'), ports);
    // The child must not think it runs inside this vitest.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST') && name !== 'NODE_ENV'));
    const env = { ...inherited, BASALT_METAD: `127.0.0.1:${ports[0]}`, BASALT_CLUSTER: clusterFile, BASALT_AGENT: `127.0.0.1:${ports[3]}` };
    const outputFile = join(scope.tempDir('basalt-hermetic-out'), 'vitest.json');
    const run = await runVitest(checkout, env, outputFile);
    const report = JSON.parse(readFileSync(outputFile, 'utf8')) as VitestJson;
    const failed = report.testResults.flatMap((f) => f.assertionResults.filter((a) => a.status !== 'passed').map((a) => `${a.title}: ${a.status} ${a.failureMessages.join('\n')}`));
    expect(failed, run.output.slice(-4000)).toEqual([]);
    expect(run.code).toBe(0);
    expect(report.testResults.map((f) => f.name.slice(repoRoot.length)).sort()).toEqual([...files].sort());
    const titles = report.testResults.flatMap((f) => f.assertionResults.map((a) => a.title));
    expect(titles).toContain('asks for a cluster when neither --metad nor BASALT_METAD is given, with --json output too');
    expect(titles).toContain('refuses inconsistent flags with the rule that was broken');
    expect(report.numPassedTests).toBe(report.numTotalTests);
  });
});
