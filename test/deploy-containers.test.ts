import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { yamlDocuments } from '../deploy/src/check.js';
import type { ComposeFile } from '../deploy/src/compose.js';
import { internalNetwork } from '../deploy/src/compose.js';
import { ComposeProject } from '../deploy/src/compose-project.js';
import { deployDir, podman, podmanOk, run, withoutSystemdNoise } from '../deploy/src/podman.js';
import { image, ports } from '../deploy/src/topology.js';

/**
 * Basalt as containers, for real: deploy/scripts/build-images builds the images with podman, the
 * services of deploy/compose.yaml run as `podman run` containers on an internal network with named
 * volumes, and the dev overlay runs under `podman kube play`. Every container, network and volume is
 * named after this run (basalt-dt<pid>-...) and removed at the end; nothing else is touched.
 *
 * Data goes in and out through the agent with nbdcopy, run on the host inside the agent container's
 * network namespace (nsenter) against its loopback: nothing is published on the host's ports. The
 * data-path tests run once the agent in the image serves cluster volumes; until then they report
 * why they cannot run (ctx.skip with the agent's own error).
 */

const compose = yamlDocuments(readFileSync(join(deployDir, 'compose.yaml'), 'utf8'))[0] as unknown as ComposeFile;
const project = new ComposeProject(`basalt-dt${process.pid}`, compose);
const metads = Object.keys(compose.services).filter((s) => s.startsWith('metad-'));
const chunkds = Object.keys(compose.services).filter((s) => s.startsWith('chunkd-'));
const metadEndpoints = metads.map((m) => `${m}:${ports.meta}`).join(',');
/** Cluster flags of every CLI call: the endpoints and a deadline generous enough for a loaded 2-core machine. */
const cluster = (endpoints: string): string[] => ['--metad', endpoints, '--timeout', '60s'];
const execTimeoutMs = 180_000;
const volumeName = 'deploy-test';
const work = mkdtempSync(join(tmpdir(), 'basalt-deploy-test-'));
const timings: string[] = [];

/** What the image's CLI offers (`basalt help`), and whether its agent serves cluster volumes. */
let cliHelp = '';
let agentProblem: string | undefined = 'the agent was not started';

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await fn();
  timings.push(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err as Error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${last.message}`}`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

interface Member {
  id: string;
  role: string;
  appliedIndex: number;
  error?: unknown;
}

/** The leader's id once every metad answers and exactly one is the leader. */
async function leader(via: string): Promise<string | undefined> {
  const r = await project.exec(via, ['status', '--json', ...cluster(metadEndpoints)], execTimeoutMs);
  if (r.stdout.trim() === '') return undefined;
  const { members } = JSON.parse(r.stdout) as { members: Member[] };
  const leaders = members.filter((m) => m.role === 'leader');
  return members.length === metads.length && members.every((m) => m.error === undefined) && leaders.length === 1 ? leaders[0]!.id : undefined;
}

interface ChunkServerJson {
  id: string;
  address: string;
  state: string;
}

/** True once metad lists every chunkd of compose.yaml as up, at its service name (not a container IP). */
async function chunkServersUp(via: string): Promise<true | undefined> {
  const r = await project.exec(via, ['status', '--json', ...cluster(metadEndpoints)], execTimeoutMs);
  if (r.stdout.trim() === '') return undefined;
  const servers = (JSON.parse(r.stdout) as { chunkServers?: ChunkServerJson[] }).chunkServers ?? [];
  const up = chunkds.every((c) => servers.some((s) => s.id === c && s.state === 'up' && s.address === `${c}:${ports.chunk}`));
  return up ? true : undefined;
}

/** What metad replicates of a volume (`storedBytes` is the leader's sum of heartbeats: not compared). */
interface VolumeJson {
  id: number;
  name: string;
  sizeBytes: number;
  allocatedExtents: number;
  generation: number;
  leaseHolder: string;
}

async function volumes(via: string): Promise<VolumeJson[]> {
  const r = await project.exec(via, ['volume', 'ls', '--json', ...cluster(metadEndpoints)], execTimeoutMs);
  if (r.code !== 0) throw new Error(`volume ls: ${withoutSystemdNoise(r.stderr)}`);
  return (JSON.parse(r.stdout) as VolumeJson[]).map((v) => ({
    id: v.id, name: v.name, sizeBytes: v.sizeBytes, allocatedExtents: v.allocatedExtents, generation: v.generation, leaseHolder: v.leaseHolder,
  }));
}

async function healthy(container: string): Promise<boolean> {
  return (await podman(['healthcheck', 'run', container], 60_000)).code === 0;
}

/** Starts the agent and waits until its health check passes, or until it exits (then says why). */
async function startAgent(): Promise<void> {
  await project.start('agent');
  const outcome = await waitFor('the agent to serve or exit', 120_000, async () => {
    if (!(await project.isRunning('agent'))) return 'exited';
    return (await healthy(project.container('agent'))) ? 'serving' : undefined;
  });
  if (outcome === 'serving') {
    agentProblem = undefined;
    return;
  }
  const logs = await podman(['logs', project.container('agent')]);
  agentProblem = `the agent exited: ${withoutSystemdNoise(logs.stdout + logs.stderr).split('\n').slice(-3).join(' ')}`;
}

/** nbdcopy on the host, in the agent container's network namespace, against the agent's loopback. */
async function nbdcopy(from: string, to: string): Promise<void> {
  const pid = (await podmanOk(['inspect', '--format', '{{.State.Pid}}', project.container('agent')])).trim();
  const r = await run('nsenter', [`--net=/proc/${pid}/ns/net`, 'nbdcopy', '--flush', from, to], 300_000);
  if (r.code !== 0) throw new Error(`nbdcopy ${from} ${to}: ${r.stderr}\n${await containerLogs()}`);
}

/** The end of every container's log, for a failure message: the containers are removed when the tests end. */
async function containerLogs(lines = 30): Promise<string> {
  const parts: string[] = [];
  for (const s of Object.keys(compose.services)) {
    const r = await podman(['logs', '--tail', String(lines), project.container(s)]);
    parts.push(`--- podman logs --tail ${lines} ${project.container(s)}\n${withoutSystemdNoise(r.stdout + r.stderr).trim()}`);
  }
  return parts.join('\n');
}

const nbdUri = `nbd://127.0.0.1:${ports.nbd}/${volumeName}`;
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

async function writeVolume(name: string, bytes: number): Promise<string> {
  const file = join(work, name);
  writeFileSync(file, randomBytes(bytes));
  await nbdcopy(file, nbdUri);
  return sha256(file);
}

async function readVolume(name: string): Promise<string> {
  const file = join(work, name);
  await nbdcopy(nbdUri, file);
  return sha256(file);
}

function needAgent(): void {
  expect(agentProblem, 'the agent container must serve cluster volumes').toBeUndefined();
}

const volumeBytes = 32 * 1024 * 1024;
let written: string | undefined;

describe('Basalt in podman containers', () => {
  beforeAll(async () => {
    const built = await timed('build-images (workspace build, base image if not cached, Basalt image)', () =>
      run('bash', [join(deployDir, 'scripts/build-images')], 1_200_000));
    expect(built.code, built.stderr).toBe(0);
    timings.push(...built.stderr.split('\n').filter((l) => l.startsWith('build-images:')));
    cliHelp = await podmanOk(['run', '--rm', image, 'help']);
    await project.create();
  }, 1_300_000);

  afterAll(async () => {
    await project.cleanup();
    rmSync(work, { recursive: true, force: true });
    console.log(`deploy-containers timings:\n  ${timings.join('\n  ')}`);
  }, 300_000);

  it('the image runs the basalt CLI under tini as an unprivileged user, with a data volume and a health check', async () => {
    expect(cliHelp).toContain('basalt meta start');
    const config = JSON.parse(await podmanOk(['image', 'inspect', '--format', '{{json .Config}}', image])) as {
      User: string; Entrypoint: string[]; Volumes: Record<string, unknown>;
    };
    const health = JSON.parse(await podmanOk(['image', 'inspect', '--format', '{{json .HealthCheck}}', image])) as { Test?: string[] } | null;
    expect(config.User).toBe('basalt');
    expect(config.Entrypoint.slice(0, 2)).toEqual(['/usr/bin/tini', '--']);
    expect(Object.keys(config.Volumes)).toEqual(['/var/lib/basalt']);
    expect(health?.Test?.join(' ')).toContain('healthcheck.mjs');
    const id = await podmanOk(['run', '--rm', '--entrypoint', 'id', image, '-u']);
    expect(id.trim()).toBe('10001');
  });

  it('three metad containers on the internal network elect a leader and serve volume operations', async () => {
    await timed('start 3 metad and elect a leader', async () => {
      for (const m of metads) await project.start(m);
      await waitFor('a metad leader', 180_000, () => leader(metads[0]!));
    });
    for (const m of metads) expect(await healthy(project.container(m)), `${m} health check`).toBe(true);
    const created = await project.exec(metads[1]!, ['volume', 'create', volumeName, '--size', '32MiB', '--extent-size', '4MiB', '--json', ...cluster(metadEndpoints)], execTimeoutMs);
    expect(created.code, withoutSystemdNoise(created.stderr)).toBe(0);
    expect((await volumes(metads[2]!)).map((v) => v.name)).toEqual([volumeName]);
  }, 300_000);

  it('three chunkd containers and the agent start on the same network', async () => {
    expect(cliHelp).toContain('basalt chunk start');
    await timed('start 3 chunkd and the agent', async () => {
      for (const c of chunkds) await project.start(c);
      for (const c of chunkds) await waitFor(`${c} to pass its health check`, 120_000, async () => ((await healthy(project.container(c))) ? true : undefined));
      await waitFor('metad to list the 3 chunk servers up at their service names', 180_000, () => chunkServersUp(metads[0]!));
      await startAgent();
    });
    needAgent();
  }, 400_000);

  it('data written through the agent reads back equal', async () => {
    needAgent();
    written = await timed('write and read 32 MiB through the agent', async () => {
      const sum = await writeVolume('written.bin', volumeBytes);
      expect(await readVolume('read-1.bin')).toBe(sum);
      return sum;
    });
  }, 600_000);

  it('every container removed and recreated on the same volumes: the cluster comes back with all its data', async () => {
    // The agent releases the writer lease once nbdcopy has disconnected (a flush and a metad call):
    // compare the metadata from then on, not while the lease is changing hands.
    const before = await waitFor('the agent to release the writer lease', 120_000, async () => {
      const vs = await volumes(metads[0]!);
      return vs.every((v) => v.leaseHolder === '') ? vs : undefined;
    });
    const running = Object.keys(compose.services);
    await timed(`remove and recreate ${running.length} containers`, async () => {
      for (const s of [...running].reverse()) await project.remove(s);
      for (const s of running) await project.start(s);
      await waitFor('a metad leader after the restart', 180_000, () => leader(metads[2]!));
      await waitFor('the chunk servers to be up again', 180_000, () => chunkServersUp(metads[1]!));
    });
    expect(await volumes(metads[1]!)).toEqual(before);
    expect(written, 'data written through the agent before the recreate').toBeDefined();
    await waitFor('the agent to serve again', 120_000, async () => ((await healthy(project.container('agent'))) ? true : undefined));
    expect(await readVolume('read-2.bin')).toBe(written);
  }, 600_000);

  it('one chunkd container killed: I/O through the agent continues', async () => {
    needAgent();
    await project.kill(chunkds[1]!);
    const sum = await writeVolume('written-degraded.bin', volumeBytes);
    expect(await readVolume('read-3.bin')).toBe(sum);
  }, 600_000);

  it('the dev overlay runs under podman kube play: its metad members elect a leader and keep a volume on their claims', async () => {
    const pod = `${project.prefix}-dev`;
    const file = join(work, 'dev-overlay.yaml');
    const claims = writeDevOverlay(pod, file);
    const devMetads = '127.0.0.1:7100,127.0.0.1:7101,127.0.0.1:7102';
    let anonymous: string[] = [];
    try {
      await timed('podman kube play the dev overlay and elect a leader', async () => {
        await podmanOk(['kube', 'play', '--network', `${project.prefix}-${internalNetwork}`, file], 300_000);
        anonymous = await anonymousVolumes(pod);
        await waitFor('a leader in the dev pod', 240_000, async () => {
          const r = await podman(['exec', `${pod}-metad-0`, 'basalt', 'status', '--json', ...cluster(devMetads)], execTimeoutMs);
          const members = r.stdout.trim() === '' ? [] : (JSON.parse(r.stdout) as { members: Member[] }).members;
          return members.filter((m) => m.role === 'leader').length === 1 && members.length === 3 ? true : undefined;
        });
      });
      const created = await podman(['exec', `${pod}-metad-1`, 'basalt', 'volume', 'create', 'dev-test', '--size', '8MiB', '--extent-size', '4MiB', ...cluster(devMetads)], execTimeoutMs);
      expect(created.code, withoutSystemdNoise(created.stderr)).toBe(0);
      const volumesOfPod = (await podmanOk(['volume', 'ls', '--format', '{{.Name}}'])).split('\n').filter((v) => v.startsWith(pod));
      expect(volumesOfPod.sort()).toEqual([...claims].sort());
      const raft = await podman(['run', '--rm', '--volume', `${claims[0]}:/data`, '--entrypoint', 'ls', image, '/data']);
      expect(raft.stdout).toContain('raft');
    } finally {
      await podman(['kube', 'down', file], 120_000);
      await podman(['pod', 'rm', '--force', pod]);
      for (const v of [...claims, ...anonymous]) await podman(['volume', 'rm', '--force', v]);
    }
  }, 900_000);
});

/**
 * Writes the dev overlay for this run: the pod and its claims renamed to `pod` (a developer's
 * `basalt-dev` is never touched) and no host ports. Returns the claims' names.
 */
function writeDevOverlay(pod: string, file: string): string[] {
  const rename = (name: string): string => name.replace(/^basalt-dev/, pod);
  const docs = yamlDocuments(readFileSync(join(deployDir, 'k8s/dev/basalt-dev.yaml'), 'utf8'));
  const kept: Record<string, unknown>[] = [];
  for (const d of docs) {
    const meta = d.metadata as { name: string };
    meta.name = rename(meta.name);
    if (d.kind === 'Pod') {
      const spec = d.spec as { volumes: { name: string; persistentVolumeClaim: { claimName: string } }[]; containers: { name: string; ports?: unknown; volumeMounts?: { name: string }[] }[] };
      for (const v of spec.volumes) {
        v.name = rename(v.name);
        v.persistentVolumeClaim.claimName = rename(v.persistentVolumeClaim.claimName);
      }
      for (const c of spec.containers) {
        delete c.ports;
        for (const m of c.volumeMounts ?? []) m.name = rename(m.name);
      }
    }
    kept.push(d);
  }
  writeFileSync(file, kept.map((d) => JSON.stringify(d)).join('\n---\n'));
  return kept.filter((d) => d.kind === 'PersistentVolumeClaim').map((d) => (d.metadata as { name: string }).name);
}

/** Volumes podman made for the image's VOLUME where no claim is mounted (removed with the pod). */
async function anonymousVolumes(pod: string): Promise<string[]> {
  const names = (await podman(['ps', '--all', '--filter', `pod=${pod}`, '--format', '{{.Names}}'])).stdout.split('\n').filter((n) => n !== '');
  const mounts = await Promise.all(names.map((n) => podman(['inspect', '--format', '{{range .Mounts}}{{.Name}} {{end}}', n])));
  return mounts.flatMap((m) => m.stdout.split(/\s+/)).filter((v) => /^[0-9a-f]{64}$/.test(v));
}
