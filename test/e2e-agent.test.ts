import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { freePorts, requireCommands } from './lib/process.js';

/**
 * The NBD agent serving the real cluster (ClusterVolumeProvider over the SDK, on the main thread or
 * in the volume thread): qemu-io writes and verifies patterns with FUA, flush and write-zeroes
 * through `basalt agent`, the bytes are the same through the SDK, and nbdinfo --map shows
 * never-written extents as holes.
 */
const { scope, keep } = clusterScope();

function run(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 120_000, env: { ...process.env, PATH: `/usr/bin:${process.env.PATH ?? ''}` } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout));
  });
}

describe('basalt agent on a real cluster', () => {
  // --volume-thread on: the same through the SDK in the agent's volume thread (docs/nbd.md).
  it.each(['off', 'on'])('serves a 3-replica volume to qemu-io and nbdinfo (--volume-thread %s)', { timeout: 600_000 }, async (volumeThread) => {
    requireCommands('qemu-io', 'nbdinfo');
    const [metricsPort] = await freePorts(1);
    const cluster = keep(await BasaltCluster.start(scope, { agent: true, agentArgs: ['--volume-thread', volumeThread, '--metrics-port', String(metricsPort)] }));
    const client = cluster.client();
    await client.createVolume('nbd', { sizeBytes: 64 * MiB, extentSizeBytes: 4 * MiB, replicationFactor: 3 });
    const uri = `nbd://${cluster.agentAddress}/nbd`;
    const out = await run('qemu-io', ['-f', 'raw', uri,
      '-c', 'write -P 0xab -f 1M 1M', '-c', 'write -P 0xcd 9M 512k', '-c', 'flush', '-c', 'write -z 9M 4k',
      '-c', 'read -P 0xab 1M 1M', '-c', 'read -P 0 9M 4k', '-c', 'read -P 0xcd 9220k 508k']);
    expect(out).not.toMatch(/Pattern verification failed|error/i);
    const volume = await client.openVolume('nbd');
    expect((await volume.read(MiB, MiB)).equals(Buffer.alloc(MiB, 0xab))).toBe(true);
    expect((await volume.read(9 * MiB + 4096, 4096)).equals(Buffer.alloc(4096, 0xcd))).toBe(true);
    await volume.close();
    const map = JSON.parse(await run('nbdinfo', ['--map', '--json', uri])) as { offset: number; length: number; type: number }[];
    // Per 4 KiB block: [1M, 2M) and [9M + 4k, 9.5M) hold data; the rest was never written, or
    // zeroed (9M, write -z): holes (type bit 0), also inside the extents that hold data.
    const holeAt = (offset: number): boolean => map.some((e) => e.offset <= offset && offset < e.offset + e.length && (e.type & 1) === 1);
    expect(holeAt(0)).toBe(true);
    expect(holeAt(MiB)).toBe(false);
    expect(holeAt(2 * MiB - 4096)).toBe(false);
    expect(holeAt(2 * MiB)).toBe(true);
    expect(holeAt(5 * MiB)).toBe(true);
    expect(holeAt(9 * MiB)).toBe(true);
    expect(holeAt(9 * MiB + 4096)).toBe(false);
    expect(holeAt(9 * MiB + 512 * 1024)).toBe(true);
    expect(holeAt(60 * MiB)).toBe(true);
    // The agent's /metrics has the SDK's metrics of the volume, wherever the SDK runs.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^basalt_nbd_ops_total\{volume="nbd",op="write"\} \d+/m);
    expect(metrics).toMatch(/^basalt_client_ops_total\{volume="nbd",op="write"\} \d+/m);
  });
});
