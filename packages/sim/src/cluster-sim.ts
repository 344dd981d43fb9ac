/**
 * The whole-cluster simulation of the data path (`pnpm sim:cluster`): metad's state machine,
 * chunk servers and clients in one process, on a seeded network, disk and clock.
 *
 * Fault model (what a seed may do during its fault phase; all of it stops at the calm):
 * - chunk server crashes, of the process (the page cache survives) or of the power (every block
 *   part written since its last sync is kept or lost at random: MemoryDisk.crash), and restarts
 *   a while later (the MemoryDisk outlives the process; the new process opens it again);
 * - partitions between a chunk server and metad, another chunk server or a client (streams
 *   across stall and fail after the ping probe's time; new connections time out);
 * - slow servers (extra latency both ways) and silent ones (the process hangs: nothing it
 *   receives or its timers run until it resumes);
 * - a full disk (mutations needing a new block fail with BASALT_NO_SPACE) for a while;
 * - bit flips in stored data, at most one replica per block (the scrubber must repair them);
 * - a client's next mutation of an extent uses the first replica set it saw of it (as if an
 *   older process of the same writer sent it): epochs must make that harmless (reads are not
 *   sent with such a map: a member dropped without knowing it would serve what it has);
 * - the operator: MarkServerOut of a crashed server, a drain of one server (both at most once).
 * metad itself never fails (Raft is simulated in packages/raft) and every message it sends or
 * gets crosses the simulated network. The network never corrupts frames and never reorders a
 * stream.
 *
 * Safety checkers (checkers.ts): reads return what the per-block registers allow (no
 * acknowledged write is lost, none after a FLUSH or FUA even across power loss), and no two
 * servers acknowledge client writes to one extent in one epoch. Liveness: once the faults stop,
 * every extent is back to its factor of active members on up, not draining servers, with no
 * rebuilding member, within `livenessMs`; then every active member of every extent must hold
 * allowed values for every block (read from each member directly, CRCs checked).
 */
import type { KeyObject } from 'node:crypto';
import { BasaltError, limits, Prng } from '@basalt/stdx';
import type { Command } from '@basalt/meta';
import { isMutation, type ChunkUnsafeTestingKnobs } from '@basalt/chunk/parts';
import { DataFlag, DataOp, readResult, signingKeyFromSeed, type DataRequest, type DataResponse } from '@basalt/wire';
import { BlockRegisters, checkBlock, PrimaryLog, type Violation } from './checkers.js';
import { SimNetwork } from './network.js';
import { Scheduler } from './scheduler.js';
import { SimChunkServer } from './sim-chunk-server.js';
import { keyOf, SimClient, type ClientBlock } from './sim-client.js';
import { SimMetad } from './sim-metad.js';

export interface ClusterSimOptions {
  readonly seed: number;
  readonly servers?: number;
  readonly clients?: number;
  /** Simulated milliseconds of faults (and client load) before the calm. */
  readonly faultMs?: number;
  /** Bound on the simulated milliseconds from the calm to full redundancy. */
  readonly livenessMs?: number;
  /** Rule breakers in the chunk servers (their tests assert that a checker notices). */
  readonly knobs?: ChunkUnsafeTestingKnobs;
  readonly onTrace?: (line: string) => void;
}

export interface ClusterSimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  readonly traceHash: string;
  readonly stats: ClusterSimStats;
}

export interface ClusterSimStats {
  steps: number;
  simulatedMs: number;
  clientOps: number;
  clientOpsFailed: number;
  readsChecked: number;
  metaCommands: number;
  /** Simulated ms from the calm to full redundancy (-1: not reached). */
  healMs: number;
  faults: Record<string, number>;
}

const extentSizeBytes = limits.extentSizeBytesMin;
const factor = 3;
const blockBytes = limits.checksumBlockBytes;
const scrubIntervalMs = 10_000;

export const clusterDefaults = { servers: 5, clients: 2, faultMs: 8_000, livenessMs: 90_000 };

export async function runClusterSim(options: ClusterSimOptions): Promise<ClusterSimResult> {
  const o = { ...clusterDefaults, ...options };
  const sim = new ClusterSim(o);
  try {
    await sim.run();
  } catch (err) {
    sim.violation({ kind: 'bug', message: `the simulation threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` });
  }
  return sim.result();
}

class ClusterSim {
  readonly sched: Scheduler;
  private readonly prng: Prng;
  private readonly net: SimNetwork;
  private readonly metad: SimMetad;
  private readonly servers: SimChunkServer[] = [];
  private readonly clients: SimClient[] = [];
  private readonly registers = new BlockRegisters();
  private readonly primaries = new PrimaryLog();
  private readonly violations: Violation[] = [];
  private readonly faults: Record<string, number> = {};
  private readonly volumes: { name: string; id: number; blocks: ClientBlock[] }[] = [];
  private readonly flipped = new Set<string>();
  private nextValue = 1;
  private healMs = -1;
  private calm = false;
  private drained = false;
  private markedOut = false;

  constructor(private readonly o: ClusterSimOptions & typeof clusterDefaults) {
    this.sched = new Scheduler(o.onTrace);
    this.prng = new Prng(o.seed);
    this.net = new SimNetwork(this.sched, this.prng, { min: 1, max: 4 });
    this.metad = new SimMetad(this.sched, { repairIntervalMs: 1_000, downAfterMs: 3_000, downOutIntervalMs: 5_000, heartbeatIntervalMs: limits.chunkHeartbeatIntervalMs }, (cmd) => this.applied(cmd), simSigningKey(o.seed));
    this.net.start('meta');
    this.net.start('checker');
  }

  violation(v: Violation): void {
    this.violations.push(v);
    this.sched.note(`VIOLATION ${v.kind}: ${v.message}`);
  }

  async run(): Promise<void> {
    this.metad.startRepairLoop();
    for (let i = 1; i <= this.o.servers; i++) {
      const s = new SimChunkServer(`s${i}`, `s${i}:7000`, `z${i % 3}`, this.net, this.metad, this.sched, {
        replicaTimeoutMs: 2_000,
        metaTimeoutMs: 2_000,
        scrubIntervalMs,
        capacityBytes: 1 << 30,
        knobs: this.o.knobs ?? {},
      });
      s.onServed.push((id, req, res, epoch) => this.served(id, req, res, epoch));
      this.servers.push(s);
      s.start();
    }
    await this.sched.run(1_000);
    this.setUpVolumes();
    for (const c of this.clients) c.start();
    this.scheduleFaults();
    await this.sched.run(this.o.faultMs);
    this.becomeCalm();
    const deadline = this.sched.nowMs() + this.o.livenessMs;
    const calmAt = this.sched.nowMs();
    while (this.sched.nowMs() < deadline && !this.redundant()) await this.sched.run(this.sched.nowMs() + 1_000);
    if (!this.redundant()) {
      this.violation({ kind: 'liveness', message: `not back to full redundancy ${this.o.livenessMs} ms after the faults stopped: ${this.degraded().join('; ')}` });
      return;
    }
    this.healMs = this.sched.nowMs() - calmAt;
    await this.until(Promise.all(this.clients.map((c) => c.stop())), 60_000);
    // Scrub passes repair flipped blocks: wait until every server ran a whole pass that began after
    // the heal (a pass under way then may have skipped a replica that was not active yet).
    await this.sched.run(this.sched.nowMs() + 2 * scrubIntervalMs + 2_000);
    await this.until(this.checkMembers(), 60_000);
    this.collectBugs();
  }

  result(): ClusterSimResult {
    this.collectBugs();
    const stats: ClusterSimStats = {
      steps: this.sched.steps,
      simulatedMs: this.sched.nowMs(),
      clientOps: this.clients.reduce((n, c) => n + c.ops, 0),
      clientOpsFailed: this.clients.reduce((n, c) => n + c.failedOps, 0),
      readsChecked: this.registers.readsChecked,
      metaCommands: this.metad.commands,
      healMs: this.healMs,
      faults: this.faults,
    };
    return { seed: this.o.seed, ok: this.violations.length === 0, violations: this.violations, traceHash: this.sched.traceHash(), stats };
  }

  private collectBugs(): void {
    for (const s of this.servers) for (const b of s.bugs.splice(0)) this.violation({ kind: 'bug', message: `${s.id}: ${b}` });
  }

  /** Runs the simulation until p settles (or boundMs passed). */
  private async until(p: Promise<unknown>, boundMs: number): Promise<void> {
    let settled = false;
    void p.finally(() => {
      settled = true;
    });
    await this.sched.run(this.sched.nowMs() + boundMs, () => settled);
    if (!settled) this.violation({ kind: 'liveness', message: `the final phase did not finish within ${boundMs} ms` });
    await p;
  }

  private setUpVolumes(): void {
    for (let i = 1; i <= this.o.clients; i++) {
      const name = `v${i}`;
      const volume = this.metad.apply({ type: 'createVolume', name, sizeBytes: 2 * extentSizeBytes, extentSizeBytes, replicationFactor: factor, nowMs: this.sched.nowMs() });
      const lease = this.metad.apply({ type: 'acquireLease', name, clientId: `c${i}`, force: false, nowMs: this.sched.nowMs() });
      for (const index of [0, 1]) this.metad.apply({ type: 'allocateExtent', name, index });
      const blocks: ClientBlock[] = [];
      for (const index of [0, 1]) {
        const picked = new Set<number>();
        while (picked.size < 3) picked.add(this.prng.int(0, extentSizeBytes / blockBytes - 1));
        for (const block of picked) blocks.push({ index, block });
      }
      this.volumes.push({ name, id: volume.id, blocks });
      this.clients.push(
        new SimClient(`c${i}`, this.net, this.metad, { name, id: volume.id, extentSizeBytes, generation: lease.generation }, blocks, new Prng(this.o.seed * 31 + i), this.registers, () => this.nextValue++, (v) => this.violation(v), { min: 5, max: 60 }, 3_000),
      );
    }
  }

  private served(serverId: string, req: DataRequest, res: DataResponse, admittedAtEpoch: number): void {
    if (!res.ok || !isMutation(req.op) || (req.flags & DataFlag.Forwarded) !== 0) return;
    const v = this.primaries.acked(`${req.extent.volumeId}/${req.extent.index}`, admittedAtEpoch, serverId);
    if (v !== undefined) this.violation(v);
  }

  private applied(cmd: Command): void {
    if (cmd.type === 'markServerOut' || cmd.type === 'markServerDown') this.sched.note(`server ${cmd.serverId} ${cmd.type}`);
  }

  private count(kind: string, what: string): void {
    this.faults[kind] = (this.faults[kind] ?? 0) + 1;
    this.sched.note(`fault ${kind} ${what}`);
  }

  private scheduleFaults(): void {
    for (let t = this.prng.int(100, 800); t < this.o.faultMs; t += this.prng.int(100, 1_200)) {
      this.sched.at(t, 'fault', () => {
        if (!this.calm) this.injectFault();
      });
    }
  }

  private later(ms: number, label: string, fn: () => void): void {
    this.sched.at(ms, label, () => {
      if (!this.calm) fn();
    });
  }

  private injectFault(): void {
    const roll = this.prng.int(0, 99);
    const s = this.prng.pick(this.servers);
    const running = this.servers.filter((x) => x.running);
    const heal = this.prng.int(300, 4_000);
    if (roll < 25) {
      if (!s.running || running.length <= this.o.servers - 2) return;
      const power = this.prng.chance(0.4);
      this.count(power ? 'crash_power' : 'crash_process', s.id);
      if (power) this.registers.powerLoss(this.sched.nowMs());
      s.crash(power ? 'power' : 'process', () => this.prng.chance(0.5));
      this.later(heal * 2, `restart ${s.id}`, () => s.start());
    } else if (roll < 45) {
      const other = this.prng.pick(['meta', ...this.servers.map((x) => x.id).filter((id) => id !== s.id), ...this.clients.map((c) => c.id)]);
      this.count('partition', `${s.id}|${other}`);
      this.net.cut(s.id, other);
      this.later(heal, `heal ${s.id}|${other}`, () => this.net.heal(s.id, other));
    } else if (roll < 55) {
      this.count('slow', s.id);
      this.net.node(s.id).slowMs = this.prng.int(50, 2_500);
      this.later(heal, `fast ${s.id}`, () => void (this.net.node(s.id).slowMs = 0));
    } else if (roll < 65) {
      if (!s.running) return;
      this.count('hang', s.id);
      this.net.hang(s.id, true);
      this.later(heal, `resume ${s.id}`, () => this.net.hang(s.id, false));
    } else if (roll < 75) {
      this.count('disk_full', s.id);
      s.disk.full = true;
      this.later(heal, `disk ${s.id} has room`, () => void (s.disk.full = false));
    } else if (roll < 82) {
      this.flipBit(s);
    } else if (roll < 88) {
      const c = this.prng.pick(this.clients);
      if (c.staleMap(this.prng.int(0, 1))) this.count('stale_map', c.id);
    } else if (roll < 94) {
      if (this.markedOut || s.running) return;
      this.markedOut = true;
      this.count('mark_out', s.id);
      this.metad.apply({ type: 'markServerOut', serverId: s.id, nowMs: this.sched.nowMs() });
    } else {
      if (this.drained) return;
      this.drained = true;
      this.count('drain', s.id);
      this.metad.apply({ type: 'setServerDraining', serverId: s.id, draining: true });
    }
  }

  private flipBit(s: SimChunkServer): void {
    const v = this.prng.pick(this.volumes);
    const b = this.prng.pick(v.blocks);
    const key = keyOf(v.name, b);
    if (this.flipped.has(key) || !s.disk.extents.has(`${v.id}/${b.index}`)) return;
    this.flipped.add(key);
    this.count('bit_flip', `${s.id} ${key}`);
    s.disk.flipBit(v.id, b.index, b.block * blockBytes + this.prng.int(0, blockBytes - 1), this.prng.int(0, 7));
  }

  private becomeCalm(): void {
    this.calm = true;
    this.sched.note('calm');
    this.net.healAll();
    for (const s of this.servers) {
      this.net.node(s.id).slowMs = 0;
      s.disk.full = false;
      if (this.net.node(s.id).hung) this.net.hang(s.id, false);
      if (!s.running) s.start();
    }
  }

  /** Extents not (yet) at their factor of active members on up, not draining servers, or with a rebuilding member. */
  private degraded(): string[] {
    const out: string[] = [];
    const servers = new Map(this.metad.state.listServers().map((s) => [s.id, s]));
    for (const v of this.volumes) {
      const map = this.metad.state.extentMap(v.name, 0, 2);
      if (!map.ok) throw new BasaltError(map.error.code, map.error.message);
      for (const e of map.value.extents) {
        const healthy = e.replicas.filter((r) => !r.rebuilding && servers.get(r.serverId)?.state === 'up' && servers.get(r.serverId)?.draining === false);
        if (healthy.length !== factor || e.replicas.length !== factor) out.push(`${v.name}/${e.index}@${e.epoch} [${e.replicas.map((r) => `${r.serverId}${r.rebuilding ? '(rebuilding)' : ''}:${servers.get(r.serverId)?.state}`).join(' ')}]`);
      }
    }
    return out;
  }

  private redundant(): boolean {
    return this.degraded().length === 0;
  }

  /** Reads every client block from every active member directly; each must be allowed by its register. */
  private async checkMembers(): Promise<void> {
    const reads: Promise<void>[] = [];
    for (const v of this.volumes) {
      for (const b of v.blocks) {
        const placement = this.metad.placement(v.id, b.index)!;
        const key = keyOf(v.name, b);
        const allowed = this.registers.allowed(key);
        for (const m of placement.replicas) {
          const auth = [this.metad.capability(v.id, false), placement.signedState];
          const ref = { volumeId: v.id, index: b.index, extentSizeBytes, epoch: placement.epoch, generation: 0, replicas: placement.replicas, auth };
          const offset = b.block * blockBytes;
          reads.push(
            this.net
              .connect('checker', 1, m.serverId, m.address, 10_000)
              .then((c) => c.send({ op: DataOp.Read, flags: 0, requestId: 0, extent: ref, offset, length: blockBytes }))
              .then((res) => {
                const v = checkBlock(this.registers, key, readResult(res, ref, offset, blockBytes, m.address).data, allowed, `the final read of member ${m.serverId}`);
                if (v !== undefined) this.violation(v);
              })
              .catch((err: unknown) => this.violation({ kind: 'liveness', message: `the final read of block ${key} from ${m.serverId} failed: ${String(err)}` })),
          );
        }
      }
    }
    await Promise.all(reads);
  }
}

export function replayCommand(seed: number, o: Pick<ClusterSimOptions, 'knobs' | 'faultMs'> = {}): string {
  const knobs = Object.entries(o.knobs ?? {}).filter(([, on]) => on === true).map(([k]) => k);
  return `pnpm sim:cluster --seed ${seed}${o.faultMs === undefined ? '' : ` --fault-ms ${o.faultMs}`}${knobs.length > 0 ? ` --unsafe ${knobs.join(',')}` : ''} --trace`;
}

export function formatFailure(r: ClusterSimResult, o: Pick<ClusterSimOptions, 'knobs' | 'faultMs'> = {}): string {
  return [`SEED=${r.seed} failed (${r.violations.length} violation(s), trace ${r.traceHash})`, ...r.violations.slice(0, 5).map((v) => `  ${v.kind}: ${v.message}`), `  replay: ${replayCommand(r.seed, o)}`].join('\n');
}

/** The cluster's signing key, drawn from the seed on a generator of its own (the run's draws stay as they were). */
function simSigningKey(seed: number): KeyObject {
  return signingKeyFromSeed(new Prng(seed * 7 + 3).fill(new Uint8Array(32)));
}
