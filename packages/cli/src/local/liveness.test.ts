import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { main } from '../main.js';
import { captureIo } from '../testing/index.js';
import { clusterFilePath, writeClusterFile } from './cluster-file.js';
import { planLayout } from './layout.js';
import { assertLocalClusterRunning, startCommand } from './liveness.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'basalt-liveness-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function listen(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port };
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A cluster file as `basalt up` leaves it after Ctrl-C: state stopped, pids 0, metad at `metadPorts`. */
function stoppedCluster(dir: string, metadPorts: number[]): ReturnType<typeof planLayout> {
  const file = planLayout({ dir, basePort: 7100, nbdPort: 10809 });
  file.state = 'stopped';
  file.metad = file.metad.map((m, i) => ({ ...m, address: `127.0.0.1:${metadPorts[i % metadPorts.length]}` }));
  mkdirSync(dir, { recursive: true });
  writeClusterFile(file);
  return file;
}

describe('a local cluster named by cluster.json', () => {
  it('is reported as not running when no metad process is alive and no metad port answers', async () => {
    const dir = join(tempDir(), '.basalt');
    const file = stoppedCluster(dir, [await closedPort(), await closedPort()]);
    const err = await assertLocalClusterRunning(file, clusterFilePath(dir), join(dir, '..')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BasaltError);
    expect((err as BasaltError).code).toBe(ErrorCode.ClusterNotRunning);
    expect((err as BasaltError).message).toContain(`the local cluster in ${dir} is not running`);
    expect((err as BasaltError).message).toContain('"npm start" (or "pnpm basalt up")');
    expect((err as BasaltError).details).toEqual({ dir, clusterFile: clusterFilePath(dir), state: 'stopped' });
  });

  it('counts as running while any metad port accepts connections, whatever the file says of its pids', async () => {
    const dir = join(tempDir(), '.basalt');
    const { port } = await listen();
    const file = stoppedCluster(dir, [await closedPort(), port]);
    await expect(assertLocalClusterRunning(file, clusterFilePath(dir), dir)).resolves.toBeUndefined();
  });

  it('names the README command for ./.basalt and basalt up --dir for any other folder', () => {
    expect(startCommand('/src/basalt/.basalt', '/src/basalt')).toBe('"npm start" (or "pnpm basalt up")');
    expect(startCommand('/src/basalt/.basalt', '/src/basalt/')).toBe('"npm start" (or "pnpm basalt up")');
    expect(startCommand('/var/lib/c1', '/src/basalt')).toBe('"pnpm basalt up --dir /var/lib/c1"');
  });
});

describe('basalt commands against ./.basalt/cluster.json of a stopped cluster', () => {
  it('say BASALT_CLUSTER_NOT_RUNNING with the folder and how to start it, in text and --json', async () => {
    const cwd = tempDir();
    stoppedCluster(join(cwd, '.basalt'), [await closedPort()]);
    const ls = captureIo({ cwd });
    expect(await main(['volume', 'ls', '--json'], ls)).toBe(1);
    expect(JSON.parse(ls.stdout)).toMatchObject({ error: { code: 'BASALT_CLUSTER_NOT_RUNNING', details: { dir: join(cwd, '.basalt'), state: 'stopped' } } });
    const write = captureIo({ cwd });
    expect(await main(['volume', 'write', 'v', '--from', '/dev/null'], write)).toBe(1);
    expect(write.stderr).toMatch(/^error BASALT_CLUSTER_NOT_RUNNING: the local cluster in .*\.basalt is not running .* start it with "npm start"/);
  });

  it('include basalt agent, which refuses to start in front of it', async () => {
    const cwd = tempDir();
    stoppedCluster(join(cwd, '.basalt'), [await closedPort()]);
    const io = captureIo({ cwd });
    expect(await main(['agent', '--listen', `127.0.0.1:${await closedPort()}`], io)).toBe(1);
    expect(io.stderr).toMatch(/^error BASALT_CLUSTER_NOT_RUNNING: /);
    expect(io.stdout).not.toContain('basalt agent: NBD on');
  });

  it('keep the ordinary call path for a cluster whose metad port answers', async () => {
    const cwd = tempDir();
    const { port } = await listen();
    stoppedCluster(join(cwd, '.basalt'), [port]);
    const io = captureIo({ cwd });
    expect(await main(['volume', 'ls', '--json', '--timeout', '300ms'], io)).toBe(1);
    const { error } = JSON.parse(io.stdout) as { error: { code: string } };
    expect(error.code).not.toBe('BASALT_CLUSTER_NOT_RUNNING');
  });
});
