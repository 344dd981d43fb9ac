import { expect } from 'vitest';
import { KiB, MiB, Prng } from '@basalt/stdx';
import type { BasaltClient, Volume } from '@basalt/client';
import { BasaltCluster, type ClusterOptions } from './lib/cluster.js';
import type { ProcessScope } from './lib/process.js';
import { runCliJson, waitFor } from './lib/process.js';
import { scrape } from './chunk-support.js';
import { expectVolumeEquals, pool, RandomWrites, SEED } from './e2e-support.js';

/**
 * Helpers of the e2e-heal-*.test.ts files (issue 14, real faults over real processes): a cluster
 * with short healing intervals, a background writer that keeps a byte model of every
 * acknowledged write, and the operator's view through the real `basalt status --json`.
 */
export const extentSizeBytes = 4 * MiB;

/** metad flags that make a silent server down within ~1.5 s; out after `downOut` (e.g. '3s', '1h'). */
export function healingMetaFlags(downOut: string): string[] {
  return ['--chunk-heartbeat-ms', '200', '--chunk-down-after-ms', '1500', '--down-out-interval', downOut];
}

export async function startHealingCluster(scope: ProcessScope, options: ClusterOptions & { downOut: string }): Promise<BasaltCluster> {
  return BasaltCluster.start(scope, {
    ...options,
    meta: { ...options.meta, flags: [...healingMetaFlags(options.downOut), ...(options.meta?.flags ?? [])] },
    chunkArgs: ['--repair-bandwidth', '0', ...(options.chunkArgs ?? [])],
  });
}

/**
 * Writes random, non-overlapping-in-flight pieces to a volume until stopped, and applies each to
 * `model` once acknowledged. A write that fails is sent again (same bytes) until acknowledged, so
 * the model stays exact: a range whose write failed would otherwise hold either version.
 */
export class ModelWriter {
  readonly model: Buffer;
  acknowledged = 0;
  retries = 0;
  /** Every write sent (offset, length), in the order sent. */
  readonly sent: { offset: number; length: number }[] = [];
  private stopping = false;
  private running: Promise<void> | undefined;
  private readonly writes: RandomWrites;
  private readonly depth: number;
  private readonly pauseMs: number;

  /**
   * `pauseMs` after each write per writer (of `depth`) keeps the rate down where a test needs the
   * writes of an outage to touch a small part of the volume.
   */
  constructor(private readonly volume: Volume, sizeBytes: number, options: { seed?: number; maxBytes?: number; depth?: number; pauseMs?: number } = {}) {
    this.depth = options.depth ?? 4;
    this.pauseMs = options.pauseMs ?? 0;
    this.model = Buffer.alloc(sizeBytes);
    this.writes = new RandomWrites(new Prng(options.seed ?? SEED), sizeBytes, options.maxBytes ?? 64 * KiB);
  }

  /** Writes `bytes` at `offset` now (e.g. to fill the volume first) and records it. */
  async fill(chunkBytes = MiB): Promise<void> {
    const prng = new Prng(SEED + 1);
    await pool(Math.ceil(this.model.length / chunkBytes), this.depth, async (i) => {
      const data = Buffer.from(prng.fill(new Uint8Array(Math.min(chunkBytes, this.model.length - i * chunkBytes))));
      await this.writeUntilAcknowledged(i * chunkBytes, data);
    });
  }

  start(): void {
    this.running = Promise.all(Array.from({ length: this.depth }, async () => {
      while (!this.stopping) {
        const w = this.writes.next();
        this.sent.push({ offset: w.offset, length: w.data.length });
        try {
          await this.writeUntilAcknowledged(w.offset, w.data);
        } finally {
          this.writes.done(w);
        }
        if (this.pauseMs > 0) await sleep(this.pauseMs);
      }
    })).then(() => undefined);
  }

  /** Waits until `n` more writes than now were acknowledged (the writer makes progress). */
  async progress(n: number, what: string, timeoutMs = 60_000): Promise<void> {
    const target = this.acknowledged + n;
    await waitFor(`${n} more acknowledged writes ${what}`, () => this.acknowledged >= target, { timeoutMs, intervalMs: 50 });
  }

  /** Bytes of the distinct `blockBytes` blocks touched by the writes sent from `sent[from]` on. */
  touchedBytes(from: number, blockBytes: number): number {
    const blocks = new Set<number>();
    for (const w of this.sent.slice(from)) {
      for (let b = Math.floor(w.offset / blockBytes); b * blockBytes < w.offset + w.length; b++) blocks.add(b);
    }
    return blocks.size * blockBytes;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  private async writeUntilAcknowledged(offset: number, data: Buffer): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.volume.write(offset, data);
        data.copy(this.model, offset);
        this.acknowledged++;
        return;
      } catch (err) {
        if (attempt >= 20) throw new Error(`write at ${offset} (${data.length} bytes) failed ${attempt} times (SEED=${SEED}): ${String(err)}`);
        this.retries++;
        await sleep(250);
      }
    }
  }

  /** Every acknowledged byte reads back through a fresh reader of `client`. */
  async expectReadsBack(client: BasaltClient, name: string, what: string): Promise<void> {
    const reader = await client.openVolume(name);
    try {
      await expectVolumeEquals(reader, this.model, what);
    } finally {
      await reader.close();
    }
  }
}

/** The parts of `basalt status --json` these tests read (packages/cli/src/commands/status.ts). */
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface StatusJson {
  chunkServers: { id: string; state: string; extentCount: number; scrubLastPassMs: number; scrubRepairedBlocks: number; repair: { copiesRunning: number; bytesCopied: number } }[];
  degradedExtents: { total: number };
  repair?: { allocatedExtents: number; degradedExtents: number; criticalExtents: number; waitingExtents: number; rebuildingReplicas: number; bytesLeft: number; etaSeconds: number };
}

/** A cluster as these helpers need it: where metad is. */
export interface MetaEndpoints {
  readonly metaEndpoints: readonly string[];
}

/** `basalt status --json` of the real CLI. */
export function status(cluster: MetaEndpoints): Promise<StatusJson> {
  return runCliJson<StatusJson>(['status', '--json', '--metad', cluster.metaEndpoints.join(',')], { timeoutMs: 30_000 });
}

/** Runs `basalt server VERB ID --json`. */
export function serverVerb(cluster: MetaEndpoints, verb: 'drain' | 'undrain' | 'out' | 'remove', id: string): Promise<{ id: string; state: string; extentCount: number }> {
  return runCliJson(['server', verb, id, '--json', '--metad', cluster.metaEndpoints.join(',')], { timeoutMs: 30_000 });
}

/** Waits until `basalt status --json` reports full redundancy (no degraded extent, no copy planned) and returns it. */
export async function waitForFullRedundancy(cluster: MetaEndpoints, what: string, timeoutMs = 120_000): Promise<StatusJson> {
  let last: StatusJson | undefined;
  try {
    return await waitFor(`full redundancy ${what}`, async () => {
      last = await status(cluster);
      const r = last.repair;
      return r !== undefined && r.allocatedExtents > 0 && r.degradedExtents === 0 && r.rebuildingReplicas === 0 && last.degradedExtents.total === 0 ? last : undefined;
    }, { timeoutMs, intervalMs: 500 });
  } catch (err) {
    throw new Error(`${String(err)}\nlast status: ${JSON.stringify(last?.repair)} ${JSON.stringify(last?.chunkServers.map((s) => [s.id, s.state, s.extentCount]))}`);
  }
}

/** Active replica holders of every extent of `volume`, by index. */
export async function replicaSets(client: BasaltClient, volume: string, count: number): Promise<{ active: string[]; rebuilding: string[] }[]> {
  const extents = (await client.extentPlacements(volume)).filter((e) => e.index < count);
  return extents.map((e) => ({
    active: e.replicas.filter((r) => !r.rebuilding).map((r) => r.serverId).sort(),
    rebuilding: e.replicas.filter((r) => r.rebuilding).map((r) => r.serverId).sort(),
  }));
}

/**
 * Sum over the running chunk servers given of every sample of `metric` whose labels include all
 * of `labels` (e.g. { what: 'copied' }); 0 where a server has none yet.
 */
export async function sumMetric(cluster: BasaltCluster, ids: readonly string[], metric: string, labels: Record<string, string> = {}): Promise<number> {
  let sum = 0;
  for (const id of ids) {
    const node = cluster.chunkById(id);
    if (node.pid === undefined) continue;
    for (const line of (await scrape(node.metricsAddress)).split('\n')) {
      const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
      if (m === null || m[1] !== metric) continue;
      if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3]);
    }
  }
  return sum;
}

export function expectEveryExtentOn(sets: { active: string[]; rebuilding: string[] }[], factor: number, allowed: readonly string[]): void {
  for (const [i, s] of sets.entries()) {
    expect(s.active.length, `extent ${i}: ${s.active.join(',')}`).toBe(factor);
    expect(s.rebuilding, `extent ${i}`).toEqual([]);
    for (const id of s.active) expect(allowed, `extent ${i} on ${id}`).toContain(id);
  }
}
