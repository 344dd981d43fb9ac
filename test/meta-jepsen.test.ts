/**
 * Jepsen-style: concurrent clients do register operations (read, write, compare-and-set) on volume
 * labels of a real 3-member metad cluster while a nemesis kills (-9, then restarts), pauses
 * (SIGSTOP/SIGCONT) and partitions members (each a host in its own network namespace). The
 * recorded history, with unknown outcomes for calls that timed out, must be linearizable.
 * Reproduce a run with JEPSEN_SEED=<seed> (printed at the start); the faults' timing still varies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLinearizability, kvModel } from '@basalt/raft/testing';
import { MiB, Prng } from '@basalt/stdx';
import { Nemesis } from './lib/nemesis.js';
import { NetnsMetaCluster } from './lib/netns-meta-cluster.js';
import { ProcessScope } from './lib/process.js';
import { RegisterWorkload } from './lib/register-workload.js';

const seed = Number(process.env.JEPSEN_SEED ?? Math.floor(Math.random() * 2 ** 31));
const volumes = ['reg-a', 'reg-b', 'reg-c', 'reg-d'];
const clients = 6;
const workloadMs = 70_000;
const faultsMs = 60_000;
const opsMax = 20_000;
const opTimeoutMs = 2_000;

const log = (line: string): void => console.log(`[jepsen] ${line}`);

describe('metad under kills, pauses and partitions (Jepsen-style)', () => {
  const scope = new ProcessScope();
  let cluster: NetnsMetaCluster;

  beforeAll(async () => {
    log(`SEED=${seed}`);
    cluster = await NetnsMetaCluster.start(scope);
  });

  afterAll(async () => {
    await cluster?.destroy();
    await scope.cleanup();
  });

  /** Ends every fault: network whole, every member running. */
  async function repair(): Promise<void> {
    await cluster.heal();
    for (let i = 0; i < cluster.size; i++) {
      cluster.resume(i);
      const p = cluster.meta.member(i).process;
      if (p === undefined || p.hasExited) await cluster.restart(i);
    }
  }

  it('the history of register operations on volume labels is linearizable', async () => {
    const meta = cluster.meta;
    await meta.waitForLeader();
    const setup = meta.client({ callTimeoutMs: 30_000 });
    for (const name of volumes) await setup.call('createVolume', { name, sizeBytes: 64 * MiB });

    const workload = new RegisterWorkload({ endpoints: meta.endpoints, clients, volumes, label: 'r', durationMs: workloadMs, opsMax, opTimeoutMs, prng: new Prng(seed) });
    const nemesis = new Nemesis(cluster, { prng: new Prng(seed + 1), durationMs: faultsMs, gapMs: [500, 2_000], holdMs: [1_000, 4_000], log });
    const progress = setInterval(() => log(`${workload.history.length} operations recorded, ${nemesis.total} faults`), 10_000);
    try {
      // Faults stop before the clients do, so the last seconds show the repaired cluster serving.
      await Promise.all([workload.run(), nemesis.run().finally(repair)]);
      await meta.waitForConvergence([0, 1, 2]);
      await workload.readAll();
    } catch (err) {
      log(`cluster logs:\n${cluster.logs()}`);
      throw err;
    } finally {
      clearInterval(progress);
    }

    const result = checkLinearizability(kvModel, workload.history);
    const { ok, refused, unknown, failedReads } = workload.stats;
    log(`SEED=${seed}: history of ${workload.history.length} operations (${ok} ok, ${unknown} unknown; ${refused} refused and ${failedReads} failed reads left out)`);
    log(`faults injected: ${nemesis.total} ${JSON.stringify(nemesis.counts)}`);
    for (const p of result.partitions) log(`register ${p.partition}: ${p.outcome}, ${p.operations} operations, ${p.steps} search steps${p.explanation ? `\n${p.explanation}` : ''}`);

    expect(result.outcome).toBe('ok');
    expect(nemesis.total).toBeGreaterThan(0);
    // Not vacuous: every register saw completed writes, not only reads.
    for (const key of volumes) {
      expect(workload.history.some((op) => op.input.key === key && op.input.kind !== 'read' && op.returnTime !== undefined)).toBe(true);
    }
  });
});
