import { assert, Prng } from '@basalt/stdx';
import type { ReadyStep } from '../core/ready-driver.js';
import type { ConfChange, ConfState, Message, NodeId, Ready, UnsafeTestingKnobs } from '../core/types.js';
import { CalmProbes } from './calm-probes.js';
import { EventQueue } from './event-queue.js';
import { drawFaultPlan, drawNetwork, figure8Faults, type FaultPlan } from './fault-plan.js';
import { kvModel } from './kv-model.js';
import { checkLinearizability } from './linearizability.js';
import { SafetyChecker, type LogView, type Violation } from './safety-checker.js';
import { SimClients } from './sim-clients.js';
import { calmNetwork, SimNetwork } from './sim-network.js';
import { crashPointsOf, type CrashPoint, SimNode } from './sim-node.js';
import { Trace } from './trace.js';

export interface SimOptions {
  readonly seed: number;
  /** Voters at the start: 3 or 5. */
  readonly nodes: number;
  /** Ticks of faults before the network heals and every node restarts. */
  readonly faultTicks?: number;
  /** Ticks allowed after the faults stop for a leader and every client to make progress. */
  readonly livenessTicks?: number;
  readonly clients?: number;
  /** A named set of fault settings (see `profiles`); the default draws everything from the seed. */
  readonly profile?: ProfileName;
  /** Protocol breakers, for the mutation test that shows the checkers catch each broken rule. */
  readonly knobs?: UnsafeTestingKnobs;
  /** Harness bug on purpose: nodes serve reads locally, skipping ReadIndex (the linearizability checker must object). */
  readonly unsafeLocalReads?: boolean;
  /** Keep the trace lines (for replay and debugging). */
  readonly keepTrace?: boolean;
  readonly onTrace?: (line: string) => void;
}

/**
 * Named fault settings: `default` draws everything from the seed (a quarter of its runs
 * follow the figure 8 schedule); `figure8` always does.
 */
export const profiles = {
  default: { plan: {}, faultTicks: 200 },
  figure8: { plan: figure8Faults, faultTicks: 150 },
} as const satisfies Record<string, { plan: Partial<FaultPlan>; faultTicks: number }>;
export type ProfileName = keyof typeof profiles;

export interface SimStats {
  readonly ticks: number;
  readonly events: number;
  readonly faults: Readonly<Record<string, number>>;
  /** Terms in which some node became leader. */
  readonly elections: number;
  /** The highest committed (applied) index. */
  readonly commits: number;
  /** Snapshots sent by a leader and installed by a follower. */
  readonly snapshotsInstalled: number;
  readonly opsChecked: number;
  readonly readsChecked: number;
  /** Operations of unknown outcome (timed out or pending at the end). */
  readonly unknownOps: number;
}

export interface SimResult {
  readonly seed: number;
  readonly nodes: number;
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  readonly stats: SimStats;
  /** Hash of everything that happened; equal for two runs of one seed. */
  readonly traceDigest: string;
  readonly trace: readonly string[] | undefined;
  /** The command that reruns this seed. */
  readonly replay: string;
}

type SimEvent =
  | { readonly kind: 'tick'; readonly node: NodeId }
  | { readonly kind: 'deliver'; readonly msg: Message }
  | { readonly kind: 'client'; readonly client: number; readonly timeoutOf: string | undefined }
  | { readonly kind: 'disk'; readonly done: () => void }
  | { readonly kind: 'report'; readonly node: NodeId; readonly about: NodeId }
  | { readonly kind: 'control' };

/** Simulated time units per Raft tick; message delays are a few units. */
const unitsPerTick = 10;
const electionTick = 10;
const heartbeatTick = 2;
const logCheckEveryTicks = 25;
/** Ticks the calm probes may take: isolation, watch and transfer (see calm-probes.ts), plus slack. */
const probeTicksMax = 15 * electionTick;

/** The `pnpm sim` command that reruns exactly this configuration. */
export function replayCommand(o: Pick<SimOptions, 'seed' | 'nodes' | 'profile' | 'knobs' | 'unsafeLocalReads' | 'faultTicks' | 'livenessTicks' | 'clients'>): string {
  const unsafe = Object.entries(o.knobs ?? {}).filter(([, v]) => v === true).map(([k]) => k);
  if (o.unsafeLocalReads === true) unsafe.push('localReads');
  const parts = [`pnpm sim --seed ${o.seed} --nodes ${o.nodes}`];
  if (o.profile !== undefined && o.profile !== 'default') parts.push(`--profile ${o.profile}`);
  if (unsafe.length > 0) parts.push(`--unsafe ${unsafe.join(',')}`);
  if (o.faultTicks !== undefined) parts.push(`--fault-ticks ${o.faultTicks}`);
  if (o.livenessTicks !== undefined) parts.push(`--liveness-ticks ${o.livenessTicks}`);
  if (o.clients !== undefined) parts.push(`--clients ${o.clients}`);
  return parts.join(' ');
}

/** One line per violation, then the seed and how to replay it. */
export function formatFailure(r: SimResult): string {
  const lines = r.violations.map((v) => `  ${v.kind}: ${v.message}`);
  return [`SEED=${r.seed} nodes=${r.nodes} failed:`, ...lines, `replay: ${r.replay}`].join('\n');
}

/**
 * One deterministic run of a whole cluster in one process: nodes, network,
 * disks and clients on simulated time, all randomness from one seed. The run
 * injects faults for `faultTicks`, then heals everything and requires progress
 * within `livenessTicks`; the safety checkers watch throughout and the client
 * history is checked for linearizability at the end.
 */
export function runSimulation(options: SimOptions): SimResult {
  return new Simulation(options).run();
}

/**
 * As `runSimulation`, but a run that throws (an assertion in the core or the harness) is a
 * failed result with its seed and replay command, like a checker's failure.
 */
export function runSimulationCatching(options: SimOptions): SimResult {
  try {
    return runSimulation(options);
  } catch (err: unknown) {
    const message = err instanceof Error ? `${err.name}: ${err.message}${firstFrame(err)}` : String(err);
    const stats: SimStats = { ticks: 0, events: 0, faults: {}, elections: 0, commits: 0, snapshotsInstalled: 0, opsChecked: 0, readsChecked: 0, unknownOps: 0 };
    return { seed: options.seed, nodes: options.nodes, ok: false, violations: [{ kind: 'exception', message }], stats, traceDigest: '', trace: undefined, replay: replayCommand(options) };
  }
}

function firstFrame(err: Error): string {
  const frame = err.stack?.split('\n').find((line) => line.trim().startsWith('at '));
  return frame === undefined ? '' : ` (${frame.trim()})`;
}

class Simulation {
  private readonly prng: Prng;
  private readonly plan: FaultPlan;
  private readonly trace: Trace;
  private readonly checker = new SafetyChecker();
  private readonly queue = new EventQueue<SimEvent>();
  private readonly network: SimNetwork;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly clients: SimClients;
  private readonly maxNodeIds: number;
  private readonly faults: Record<string, number> = {};
  private now = 0;
  private faultsOn = true;
  /** Partitions do not heal before this time (a long isolation). */
  private holdPartitionUntil = 0;
  /** An isolated leader that clients who still know it keep writing to, while the isolation holds. */
  private staleLeader: SimNode | undefined;
  /** The calm probes run after liveness was reached (see `probe`). */
  private probes: CalmProbes | undefined;
  /** Down nodes in the order the control loop saw them go down. */
  private down: SimNode[] = [];
  private readonly initialVoters: NodeId[];
  private readonly profile: (typeof profiles)[ProfileName];

  constructor(private readonly opts: SimOptions) {
    assert(opts.nodes === 3 || opts.nodes === 5, `nodes must be 3 or 5, got ${opts.nodes}`);
    this.prng = new Prng(opts.seed);
    this.profile = profiles[opts.profile ?? 'default'];
    this.plan = { ...drawFaultPlan(this.prng), ...this.profile.plan };
    this.trace = new Trace(opts.keepTrace === true, opts.onTrace);
    this.network = new SimNetwork(this.prng, this.plan.network);
    this.maxNodeIds = opts.nodes + 3;
    this.initialVoters = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    for (const id of this.initialVoters) this.addNode(id);
    this.clients = new SimClients(
      {
        prng: this.prng,
        trace: this.trace,
        schedule: (delay, client, timeoutOf) => this.queue.push(this.now + delay, { kind: 'client', client, timeoutOf }),
        node: (id) => this.nodes.get(id),
        randomNode: () => this.prng.pick(this.members()),
      },
      { clients: opts.clients ?? 3, keys: 3, timeoutUnits: 30 * unitsPerTick, thinkUnitsMax: 20 },
    );
    this.queue.push(unitsPerTick, { kind: 'control' });
    this.trace.record(`plan ${JSON.stringify(this.plan)}`);
    if (this.plan.figure8) this.count('figure8_schedule');
    if (!this.plan.checkQuorum) this.count('check_quorum_off');
    if (!this.plan.announceCommit) this.count('commit_not_announced');
  }

  private count(fault: string): void {
    this.faults[fault] = (this.faults[fault] ?? 0) + 1;
  }

  private addNode(id: NodeId): SimNode {
    const node = new SimNode(
      id,
      { voters: this.initialVoters, learners: [] },
      { electionTick, heartbeatTick, maxSizePerMsg: this.plan.maxSizePerMsg, checkQuorum: this.plan.checkQuorum, announceCommit: this.plan.announceCommit, snapshotEvery: this.plan.snapshotEvery, keepAfterSnapshot: 3, unsafeLocalReads: this.opts.unsafeLocalReads === true, ...(this.opts.knobs === undefined ? {} : { knobs: this.opts.knobs }) },
      {
        checker: this.checker,
        trace: this.trace,
        prng: this.prng,
        send: (msg) => this.send(msg),
        crashPoint: (rd, isLeader, steps) => this.drawCrashPoint(rd, isLeader, steps),
        fsyncUnits: () => this.prng.int(0, this.plan.fsyncUnitsMax),
        later: (units, done) => this.queue.push(this.now + units, { kind: 'disk', done }),
        confApplied: () => this.onConfApplied(node),
        crashed: () => this.reportCrash(id),
      },
    );
    this.nodes.set(id, node);
    this.queue.push(this.now + this.prng.int(1, unitsPerTick), { kind: 'tick', node: id });
    return node;
  }

  /**
   * Crashes inside the Ready loop: at random, and aimed at new leaders, at
   * appends and at commits. An aimed crash of a leader that sends before it
   * persists strikes either with its messages lost (the entries stay on it
   * alone) or after they left and before its write was synced.
   */
  private drawCrashPoint(rd: Ready, isLeader: boolean, steps: readonly ReadyStep[]): CrashPoint | undefined {
    if (!this.faultsOn) return undefined;
    const sentBeforeSync = steps.findIndex((s) => s.kind === 'send') < steps.findIndex((s) => s.kind === 'wait');
    const aimed = (): CrashPoint => (sentBeforeSync && this.prng.chance(this.plan.aimedCrashAfterSend) ? 'before_wait' : 'unsent');
    if (rd.softState?.role === 'leader' && this.prng.chance(this.plan.leaderCrashOnElect)) {
      this.count('crash_on_elect');
      return aimed();
    }
    if (isLeader && rd.entries.length > 0 && this.prng.chance(this.plan.leaderCrashOnAppend)) {
      this.count('crash_on_append');
      return aimed();
    }
    if (isLeader && rd.hardState !== undefined && rd.committedEntries.length > 0 && this.prng.chance(this.plan.leaderCrashOnCommit)) {
      this.count('crash_on_commit');
      return this.prng.chance(this.plan.commitCrashLosesMessages) ? 'unsent' : 'before_advance';
    }
    const acks = rd.messages.some((m) => !m.reject && (m.type === 'MsgVoteResp' || (m.type === 'MsgAppResp' && m.index > 0)));
    if (acks && steps.some((s) => s.kind === 'wait') && this.prng.chance(this.plan.crashOnAck)) {
      this.count('crash_on_ack');
      return 'before_wait';
    }
    if (!this.prng.chance(this.plan.readyCrash)) return undefined;
    this.count('ready_crash');
    return this.prng.pick(crashPointsOf(steps));
  }

  run(): SimResult {
    const faultEnd = (this.opts.faultTicks ?? this.profile.faultTicks) * unitsPerTick;
    let end = faultEnd + (this.opts.livenessTicks ?? 200) * unitsPerTick;
    let live = false;
    for (let ev = this.queue.pop(); ev !== undefined && this.checker.ok; ev = this.queue.pop()) {
      this.now = ev.time;
      if (this.faultsOn && this.now >= faultEnd) this.stopFaults();
      if (this.now > end) break;
      this.handle(ev.item);
      if (this.faultsOn || ev.item.kind !== 'control') continue;
      if (this.probes === undefined && this.livenessReached()) {
        this.probes = this.startProbes();
        end = this.now + probeTicksMax * unitsPerTick;
      }
      if (this.probes?.done === true) {
        live = true;
        break;
      }
    }
    return this.finish(live);
  }

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'tick': {
        const node = this.nodes.get(ev.node);
        assert(node !== undefined, `tick for unknown node ${ev.node}`);
        node.tick();
        const jitter = this.plan.tickJitter;
        this.queue.push(this.now + unitsPerTick + this.prng.int(-jitter, jitter), ev);
        return;
      }
      case 'deliver':
        this.deliver(ev.msg);
        return;
      case 'client':
        this.clients.act(ev.client, ev.timeoutOf);
        return;
      case 'disk':
        ev.done();
        return;
      case 'report':
        this.trace.record(`${this.now} report ${ev.node}: ${ev.about} unreachable`);
        this.nodes.get(ev.node)?.reportLeaderUnreachable(ev.about);
        return;
      case 'control':
        this.control();
        this.queue.push(this.now + unitsPerTick, ev);
        return;
    }
  }

  private send(msg: Message): void {
    const times = this.network.deliveryTimes(this.now);
    if (times.length === 0 && msg.type === 'MsgSnap') this.nodes.get(msg.from)?.reportSnapshot(msg.to, true);
    for (const t of times) this.queue.push(t, { kind: 'deliver', msg });
  }

  private deliver(msg: Message): void {
    const target = this.nodes.get(msg.to);
    const ok = target !== undefined && target.alive && this.network.canDeliver(msg.from, msg.to);
    this.trace.record(`${this.now} ${ok ? 'deliver' : 'lost'} ${msg.type} ${msg.from}>${msg.to} t${msg.term} i${msg.index}/${msg.logTerm} c${msg.commit} e${msg.entries.length}${msg.reject ? ' reject' : ''}`);
    if (msg.type === 'MsgSnap') this.nodes.get(msg.from)?.reportSnapshot(msg.to, !ok);
    if (ok) target.receive(msg);
  }

  private startProbes(): CalmProbes {
    this.trace.record(`${this.now} live; calm probes start`);
    return new CalmProbes({
      prng: this.prng,
      trace: this.trace,
      network: this.network,
      clients: this.clients,
      checkQuorum: this.plan.checkQuorum,
      electionTicks: electionTick,
      now: () => Math.floor(this.now / unitsPerTick),
      leader: () => this.leader(),
      node: (id) => this.nodes.get(id),
      fail: (kind, message) => this.checker.fail(kind, message),
    });
  }

  /** Once per tick: inject faults (while on), run the calm probes (after), and check logs. */
  private control(): void {
    if (this.now % (logCheckEveryTicks * unitsPerTick) === 0) this.checkLogs();
    this.probes?.tick();
    if (!this.faultsOn) return;
    const p = this.plan;
    const chance = (rate: number): boolean => this.prng.chance(rate);
    if (chance(p.crash)) this.crashSomeNode();
    this.restartSome();
    if (chance(p.partition)) this.partition();
    if (this.network.cutLinks > 0 && this.now >= this.holdPartitionUntil && chance(p.heal)) {
      this.network.heal();
      this.trace.record(`${this.now} heal`);
    }
    if (chance(p.networkChange)) this.network.setFaults(drawNetwork(this.prng));
    if (chance(p.confChange)) this.changeMembership();
    this.writeToStaleLeader();
    if (chance(p.transferLeader)) this.transferLeadership();
    if (chance(p.falseLeaderLossReport)) this.reportFalseLeaderLoss();
  }

  /**
   * A node crashed: each live peer whose link from it is not cut is told so, at the plan's
   * chance, after a network delay (the crashed process's port refuses the peer's reconnect).
   * The node may restart before a report arrives, which makes that report false.
   */
  private reportCrash(crashed: NodeId): void {
    for (const peer of this.nodes.values()) {
      if (peer.id === crashed || !peer.alive || this.network.isCut(crashed, peer.id)) continue;
      if (!this.prng.chance(this.plan.leaderLossReported)) continue;
      const { delayMin, delayMax } = this.network.faults;
      this.queue.push(this.now + this.prng.int(delayMin, delayMax), { kind: 'report', node: peer.id, about: crashed });
      this.count('leader_loss_reported');
    }
  }

  /** Tells a live follower that its live leader is unreachable. */
  private reportFalseLeaderLoss(): void {
    const leader = this.leader();
    if (leader === undefined) return;
    const followers = [...this.nodes.values()].filter((n) => n !== leader && n.status()?.softState.leader === leader.id);
    if (followers.length === 0) return;
    const node = this.prng.pick(followers);
    this.trace.record(`${this.now} false report ${node.id}: ${leader.id} unreachable`);
    node.reportLeaderUnreachable(leader.id);
    this.count('false_leader_loss_report');
  }

  /** Restarts down nodes: each on its own, or one at a time in the order they went down. */
  private restartSome(): void {
    for (const node of this.nodes.values()) {
      if (!node.alive && !this.down.includes(node)) this.down.push(node);
    }
    this.down = this.down.filter((n) => !n.alive);
    const candidates = this.plan.restartOldestFirst ? this.down.slice(0, 1) : [...this.down];
    for (const node of candidates) {
      if (!this.prng.chance(this.plan.restart)) continue;
      node.restart();
      this.count('restart');
    }
  }

  private crashSomeNode(): void {
    const alive = [...this.nodes.values()].filter((n) => n.alive);
    if (alive.length === 0) return;
    this.prng.pick(alive).crash('between readies');
    this.count('crash');
  }

  private partition(): void {
    const ids = [...this.nodes.keys()];
    const kind = this.prng.int(0, 4);
    if (kind === 0) {
      const victim = this.prng.pick(ids);
      this.network.split([victim], ids.filter((id) => id !== victim));
      this.count('partition_isolate');
    } else if (kind === 1) {
      const shuffled = this.prng.shuffle([...ids]);
      const cut = this.prng.int(1, shuffled.length - 1);
      this.network.split(shuffled.slice(0, cut), shuffled.slice(cut));
      this.count('partition_split');
    } else if (kind === 2) {
      for (let i = this.prng.int(1, 3); i > 0; i--) this.network.cutOneWay(this.prng.pick(ids), this.prng.pick(ids));
      this.count('partition_one_way');
    } else if (kind === 3) {
      const leader = this.leader();
      if (leader === undefined) return;
      // The leader still hears everyone but cannot be heard: it must not keep serving reads.
      for (const id of ids) if (id !== leader.id) this.network.cutOneWay(leader.id, id);
      this.count('partition_leader_mute');
    } else {
      const leader = this.leader();
      if (leader === undefined) return;
      // For several election timeouts clients write through the majority; clients that
      // still know the old leader ask it (check-quorum off: it stays leader all along).
      this.network.split([leader.id], ids.filter((id) => id !== leader.id));
      this.holdPartitionUntil = this.now + this.prng.int(4, 8) * electionTick * unitsPerTick;
      this.staleLeader = leader;
      this.count('partition_leader_isolated_long');
      if (!this.plan.checkQuorum) this.count('partition_leader_isolated_long_without_check_quorum');
    }
    this.trace.record(`${this.now} partition kind ${kind} cut ${this.network.cutLinks}`);
  }

  /**
   * While a leader is isolated, writes keep reaching it (from clients that still know it,
   * beyond the simulated clients' one request each): it grows a long tail the majority never
   * sees, which the new leader must overwrite (by a snapshot, when it compacted past it).
   */
  private writeToStaleLeader(): void {
    const stale = this.staleLeader;
    if (stale === undefined) return;
    if (this.now >= this.holdPartitionUntil || stale.status()?.softState.role !== 'leader') {
      this.staleLeader = undefined;
      return;
    }
    for (let i = this.prng.int(1, 3); i > 0; i--) stale.proposeFiller();
    this.count('stale_leader_write');
  }

  /**
   * A leader just applied a membership change: split the cluster at random for a while, so
   * that nodes that applied it and nodes that did not may each elect a leader.
   */
  private onConfApplied(node: SimNode): void {
    if (!this.faultsOn || node !== this.leader() || !this.prng.chance(this.plan.partitionOnConfChange)) return;
    const shuffled = this.prng.shuffle([...this.nodes.keys()]);
    const cut = this.prng.int(1, shuffled.length - 1);
    this.network.split(shuffled.slice(0, cut), shuffled.slice(cut));
    this.holdPartitionUntil = this.now + this.prng.int(2, 5) * electionTick * unitsPerTick;
    this.count('partition_on_conf_change');
    this.trace.record(`${this.now} partition on conf change ${shuffled.slice(0, cut).join(',')} | ${shuffled.slice(cut).join(',')}`);
  }

  /** The live leader with the highest term, if any. */
  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      const st = node.status();
      if (st?.softState.role === 'leader' && st.hardState.term > bestTerm) {
        best = node;
        bestTerm = st.hardState.term;
      }
    }
    return best;
  }

  /**
   * The nodes of the current configuration (as the leader sees it), which is
   * what a real client learns from the cluster's config; all nodes when there
   * is no leader. A removed node may never learn of its removal and would hold
   * a read forever.
   */
  private members(): SimNode[] {
    const conf = this.leader()?.status()?.conf;
    const all = [...this.nodes.values()];
    if (conf === undefined) return all;
    const members = all.filter((n) => conf.voters.includes(n.id) || conf.learners.includes(n.id));
    return members.length > 0 ? members : all;
  }

  /**
   * Asks the leader for a membership change; sometimes for a second one right after (a burst:
   * the leader must refuse it while the first is pending).
   */
  private changeMembership(): void {
    const leader = this.leader();
    const conf = leader?.status()?.conf;
    if (leader === undefined || conf === undefined) return;
    const first = this.proposeConfChange(leader, conf, undefined);
    if (first === undefined || !this.prng.chance(this.plan.confBurst)) return;
    this.count('conf_burst');
    this.proposeConfChange(leader, conf, first.nodeId);
  }

  private proposeConfChange(leader: SimNode, conf: ConfState, not: NodeId | undefined): ConfChange | undefined {
    const options: ConfChange[] = [];
    const fresh = this.nodes.size < this.maxNodeIds ? `n${this.nodes.size + 1}` : undefined;
    for (const id of conf.learners) options.push({ type: 'AddNode', nodeId: id }, { type: 'RemoveNode', nodeId: id });
    if (fresh !== undefined) options.push({ type: 'AddLearner', nodeId: fresh });
    if (fresh !== undefined && conf.voters.length < this.opts.nodes + 1) options.push({ type: 'AddNode', nodeId: fresh });
    if (conf.voters.length > Math.max(3, this.opts.nodes - 1)) for (const id of conf.voters) options.push({ type: 'RemoveNode', nodeId: id });
    const allowed = options.filter((cc) => cc.nodeId !== not);
    if (allowed.length === 0) return undefined;
    const cc = this.prng.pick(allowed);
    if (cc.nodeId === fresh) this.addNode(fresh);
    if (leader.proposeConfChange(cc) === undefined) this.count(`conf_${cc.type}`);
    return cc;
  }

  private transferLeadership(): void {
    const leader = this.leader();
    const voters = leader?.status()?.conf.voters.filter((id) => id !== leader.id) ?? [];
    if (leader === undefined || voters.length === 0) return;
    leader.transferLeader(this.prng.pick(voters));
    this.count('transfer_leader');
  }

  private stopFaults(): void {
    this.faultsOn = false;
    this.network.heal();
    this.network.setFaults(calmNetwork);
    // A new election after the faults, so that the clients' first reads meet a fresh leader.
    this.leader()?.crash('faults stop: a new election');
    for (const node of this.nodes.values()) node.restart();
    this.clients.startProbing();
    this.trace.record(`${this.now} faults stop`);
  }

  /** A leader that every live voter of its configuration follows, and every client served again. */
  private livenessReached(): boolean {
    const leader = this.leader();
    const st = leader?.status();
    if (leader === undefined || st === undefined || !st.conf.voters.includes(leader.id)) return false;
    const followed = st.conf.voters.every((id) => this.nodes.get(id)?.status()?.softState.leader === leader.id);
    return followed && this.clients.allProbed;
  }

  private checkLogs(): void {
    const logs: LogView[] = [];
    for (const node of this.nodes.values()) {
      const view = node.logView();
      if (view !== undefined) logs.push(view);
    }
    this.checker.logsNow(logs);
  }

  private finish(live: boolean): SimResult {
    this.checkLogs();
    if (this.checker.ok && !live) this.checker.fail('liveness', this.describeStuck());
    const history = this.clients.finish();
    if (this.checker.ok) {
      const lin = checkLinearizability(kvModel, history);
      if (lin.outcome !== 'ok') {
        const why = lin.partitions.filter((p) => p.outcome !== 'ok').map((p) => p.explanation ?? `partition ${p.partition}: search budget exhausted (${p.steps} steps)`);
        this.checker.fail('linearizability', `${lin.outcome}: ${why.join(' | ')}`);
      }
    }
    this.faults.dropped = this.network.dropped;
    this.faults.crash_sent_unsynced = [...this.nodes.values()].reduce((n, node) => n + node.crashesSentUnsynced, 0);
    this.faults.duplicated = this.network.duplicated;
    const stats: SimStats = {
      ticks: Math.floor(this.now / unitsPerTick),
      events: this.trace.events,
      faults: this.faults,
      elections: this.checker.termsWithLeader,
      commits: this.checker.highestApplied,
      snapshotsInstalled: [...this.nodes.values()].reduce((n, node) => n + node.snapshotsInstalled, 0),
      opsChecked: history.length,
      readsChecked: history.filter((op) => op.input.kind === 'read' && op.returnTime !== undefined).length,
      unknownOps: history.filter((op) => op.returnTime === undefined).length,
    };
    return {
      seed: this.opts.seed,
      nodes: this.opts.nodes,
      ok: this.checker.ok,
      violations: this.checker.violations,
      stats,
      traceDigest: this.trace.digest(),
      trace: this.trace.lines,
      replay: replayCommand(this.opts),
    };
  }

  private describeStuck(): string {
    const nodes = [...this.nodes.values()].map((n) => {
      const st = n.status();
      if (st === undefined) return `${n.id} down`;
      return `${n.id} ${st.softState.role} term ${st.hardState.term} leader ${st.softState.leader || '-'} commit ${st.hardState.commit} applied ${st.applied} voters ${st.conf.voters.join(',')}`;
    });
    return `no progress within ${this.opts.livenessTicks ?? 200} ticks after faults stopped: ${nodes.join('; ')}; ${this.clients.describeWaiting()}`;
  }
}
