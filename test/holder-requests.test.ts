import { join } from 'node:path';
import { credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ErrorCode, MiB } from '@basalt/stdx';
import { csiControllerService, type csipb } from '@basalt/wire';
import { main } from '@basalt/cli';
import { captureIo } from '@basalt/cli/testing';
import { Cmd } from '@basalt/agent/protocol';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { RawNbd } from './nbd-raw-client.js';
import { waitForLog } from './lib/process.js';
import { blockPattern } from './lib/block-pattern.js';

/**
 * Requests to the lease holder over real processes (docs/snapshots.md, "Requests to the lease
 * holder"): a volume attached through the NBD agent, an NBD client writing numbered blocks one
 * at a time, is snapshotted with `basalt snapshot create` while attached, and the snapshot holds
 * every write acknowledged before the command started and none issued after it returned; a clone
 * attached and written through the agent is flattened in the background under a small budget,
 * with its progress visible, and reads right once its parent snapshot is deleted; CSI
 * CreateSnapshot of the attached volume is ready at once; a request to a
 * holder that never answers fails with BASALT_HOLDER_TIMEOUT and is cancelled.
 */
const { scope, keep } = clusterScope();
const extentSizeBytes = 4 * MiB;
const sizeBytes = 4 * extentSizeBytes;
const block = 4096;
const blocks = sizeBytes / block;

/** An NBD client writing blocks one at a time (queue depth 1), counting what it issued and what was acknowledged. */
class NumberedWriter {
  issued = 0;
  acked = 0;
  private stopped = false;
  readonly done: Promise<void>;

  constructor(private readonly nbd: RawNbd, private readonly blockOf: (n: number) => number, private readonly round: number, private readonly count: number) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    for (let n = 0; n < this.count && !this.stopped; n++) {
      const b = this.blockOf(n);
      this.issued = n + 1;
      this.nbd.request(Cmd.Write, 0, BigInt(n + 1), BigInt(b * block), block, blockPattern(b, this.round));
      const reply = await this.nbd.reply();
      if (reply.error !== 0) throw new Error(`NBD write of block ${b} failed with errno ${reply.error}`);
      this.acked = n + 1;
    }
  }

  async until(acked: number): Promise<void> {
    while (this.acked < acked) await new Promise((r) => setTimeout(r, 20));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

async function attach(port: number, volume: string): Promise<RawNbd> {
  const nbd = await RawNbd.connect(port);
  await nbd.handshake();
  await nbd.go(volume, { meta: false });
  return nbd;
}

describe('requests to the lease holder', () => {
  it('snapshots a volume attached through the agent and flattens an attached clone in the background', { timeout: 600_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope, { agent: true }));
    const metad = ['--metad', cluster.metaEndpoints.join(',')];
    const basalt = async (...argv: string[]): Promise<string> => {
      const io = captureIo();
      const code = await main([...argv, ...metad], io);
      expect(code, `basalt ${argv.join(' ')}: ${io.stderr}`).toBe(0);
      return io.stdout;
    };
    const admin = cluster.client();
    await admin.createVolume('pvc', { sizeBytes, extentSizeBytes, replicationFactor: 3 });

    // Blocks 0, 2, 4, ... of the volume, in order: block 2n is the n-th write.
    const nbd = await attach(cluster.agentPort, 'pvc');
    const writer = new NumberedWriter(nbd, (n) => 2 * n, 1, blocks / 2);
    await writer.until(64);
    const ackedBefore = writer.acked;
    const created = JSON.parse(await basalt('snapshot', 'create', 'pvc@s1', '--json')) as { state: string; id: number };
    const issuedBy = writer.issued;
    expect(created).toMatchObject({ state: 'ready', id: 1 });
    await writer.until(issuedBy + 32);
    await writer.stop();

    const snap = await admin.openSnapshot('pvc', 's1');
    const image = await snap.read(0, sizeBytes);
    await snap.close();
    for (let n = 0; n < blocks / 2; n++) {
      const got = image.subarray(2 * n * block, (2 * n + 1) * block);
      if (n < ackedBefore) expect(got.equals(blockPattern(2 * n, 1)), `block ${2 * n}, acknowledged before the snapshot was asked for`).toBe(true);
      if (n >= issuedBy) expect(got.equals(Buffer.alloc(block)), `block ${2 * n}, issued after the snapshot was taken`).toBe(true);
    }
    expect(image.subarray(block, 2 * block).equals(Buffer.alloc(block))).toBe(true);

    // A VolumeSnapshot of the mounted PVC: CSI CreateSnapshot while the agent still holds the lease.
    const socket = join(scope.tempDir('csi'), 'csi.sock');
    const driver = scope.spawnCli('csi', ['csi', '--metad', cluster.metaEndpoints.join(','), '--mode', 'controller', '--endpoint', `unix://${socket}`]);
    await waitForLog(driver, /basalt csi: controller on unix:/);
    const Controller = makeGenericClientConstructor(csiControllerService, 'Controller');
    const csi = new Controller(`unix://${socket}`, credentials.createInsecure()) as unknown as Record<string, (r: object, m: object, cb: (e: ServiceError | null, v: csipb.CreateSnapshotResponse) => void) => void>;
    const reply = await new Promise<csipb.CreateSnapshotResponse>((resolve, reject) => {
      csi.createSnapshot!.call(csi, { sourceVolumeId: 'pvc', name: 'snapshot-k8s' }, { deadline: Date.now() + 120_000 }, (err, value) => (err ? reject(err) : resolve(value)));
    });
    (csi as unknown as { close(): void }).close();
    expect(reply.snapshot).toMatchObject({ snapshotId: 'pvc@snapshot-k8s', sourceVolumeId: 'pvc', readyToUse: true });
    expect((await admin.getVolume('pvc')).leaseHolder).toMatch(/^agent@/);

    // A clone attached through the agent, written while its writer flattens it in the background.
    await basalt('volume', 'clone', 'pvc@s1', 'clone');
    const cloneNbd = await attach(cluster.agentPort, 'clone');
    // Every third block: some over the parent's data, some over its holes.
    const cloneWriter = new NumberedWriter(cloneNbd, (n) => 3 * n, 2, Math.floor(blocks / 3));
    await cloneWriter.until(16);
    const asked = JSON.parse(await basalt('volume', 'flatten', 'clone', '--background', '--bandwidth', '1MiB', '--json')) as { background: boolean; flatten: { bytesPerSec: number } };
    expect(asked).toMatchObject({ background: true, flatten: { bytesPerSec: MiB } });
    let progressSeen = false;
    for (;;) {
      const info = JSON.parse(await basalt('volume', 'info', 'clone', '--json')) as { parent: string | null; flatten: { doneBytes: number; totalBytes: number } | null };
      if (info.parent === null) break;
      expect(info.flatten).not.toBeNull();
      if (info.flatten!.doneBytes > 0 && info.flatten!.doneBytes < info.flatten!.totalBytes) progressSeen = true;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(progressSeen, 'the holder reported progress before it finished').toBe(true);
    await cloneWriter.stop();
    expect(cloneWriter.acked).toBeGreaterThan(16);

    // The parent snapshot goes; the clone reads its own writes over the snapshot's image.
    const removed = JSON.parse(await basalt('snapshot', 'rm', 'pvc@s1', '--json')) as { removed: boolean };
    expect(removed.removed).toBe(true);
    const clone = await admin.openVolume('clone');
    const cloneImage = await clone.read(0, sizeBytes);
    await clone.close();
    const own = new Set(Array.from({ length: cloneWriter.acked }, (_, n) => 3 * n));
    for (let b = 0; b < blocks; b++) {
      const want = own.has(b) ? blockPattern(b, 2) : image.subarray(b * block, (b + 1) * block);
      expect(cloneImage.subarray(b * block, (b + 1) * block).equals(want), `clone block ${b}`).toBe(true);
    }
    expect((await admin.getVolume('clone')).parent).toBeUndefined();
  });

  it('a request to a holder that never answers fails with BASALT_HOLDER_TIMEOUT and is cancelled', { timeout: 300_000 }, async () => {
    const cluster = keep(await BasaltCluster.start(scope));
    const admin = cluster.client();
    await admin.createVolume('ghost', { sizeBytes: extentSizeBytes, extentSizeBytes, replicationFactor: 3 });
    // A lease taken without opening the volume: nobody polls for its requests.
    await admin.acquireLease('ghost', 'silent-holder');
    const states: string[] = [];
    const err = await admin.createSnapshot('ghost', 's1', { timeoutMs: 3_000, onWaiting: (state) => states.push(state) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.HolderTimeout, details: { cancelled: true } });
    expect(states).toContain('requested');
    expect(await admin.listSnapshots('ghost')).toEqual([]);
    expect((await admin.getVolume('ghost')).requestedSnapshots).toEqual([]);
    // The request and its cancel are audited like the other snapshot mutations (their target: the snapshot's name).
    const audited = (await admin.auditLog()).filter((e) => e.target === 's1').map((e) => `${e.method} ${e.outcome}`);
    expect(audited).toEqual(expect.arrayContaining(['requestSnapshot ok', 'deleteSnapshot ok']));
  });
});
