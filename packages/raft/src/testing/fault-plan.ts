import { Prng } from '@basalt/stdx';
import type { NetworkFaults } from './sim-network.js';

/**
 * How hard one simulated run hits the cluster, drawn from its seed (as
 * TigerBeetle's VOPR draws its fault options): every run mixes the faults, at
 * rates that differ from run to run. Rates are chances per tick unless named.
 */
export interface FaultPlan {
  /** The run follows the figure 8 schedule (`figure8Faults`) instead of the mix. */
  readonly figure8: boolean;
  readonly network: NetworkFaults;
  /** Chance the network's loss, duplication and delay are redrawn. */
  readonly networkChange: number;
  /** Chance of a new partition (isolation, split, one-way cuts, the leader muted or isolated for long). */
  readonly partition: number;
  readonly heal: number;
  /** Chance one live node crashes (between Readies). */
  readonly crash: number;
  /** Chance, per crashed node, that it restarts. */
  readonly restart: number;
  /** Restart one node at a time, the one that went down first (else each down node restarts on its own). */
  readonly restartOldestFirst: boolean;
  /** Chance, per Ready, that the node crashes inside the Ready loop. */
  readonly readyCrash: number;
  /** Chance a leader crashes in the Ready of new entries: with them unsent (on it alone) or sent and not yet synced. */
  readonly leaderCrashOnAppend: number;
  /** Chance a node crashes in the Ready that made it leader, the same two ways. */
  readonly leaderCrashOnElect: number;
  /** Chance a leader crashes right after the Ready that advanced its commit index (its messages sent or lost). */
  readonly leaderCrashOnCommit: number;
  /** For those crashes: the chance the Ready's messages are lost too (else they were sent). */
  readonly commitCrashLosesMessages: number;
  /** For crashes aimed at a leader that sends before it persists: the chance it strikes after the send, before the sync (else its messages are lost). */
  readonly aimedCrashAfterSend: number;
  /** Chance a node crashes in a Ready that grants a vote or acknowledges entries, before its write is synced. */
  readonly crashOnAck: number;
  /** Chance the leader is asked to add, promote or remove a member. */
  readonly confChange: number;
  /** Chance such a request is followed at once by a second one (refused while the first is pending). */
  readonly confBurst: number;
  /** Chance the cluster is split at random right after the leader applied a membership change. */
  readonly partitionOnConfChange: number;
  readonly transferLeader: number;
  /** Each node's tick interval varies by up to this many time units (clock drift). */
  readonly tickJitter: number;
  /** A synced write takes up to this many time units (a tick is 10); the node goes on stepping meanwhile. */
  readonly fsyncUnitsMax: number;
  /** Check-quorum (and with it the leader lease) on every node; pre-vote is always on. */
  readonly checkQuorum: boolean;
  /** Config.announceCommit on every node (false: followers learn a commit from the next append or heartbeat, as metad runs). */
  readonly announceCommit: boolean;
  /** Bytes of entries per MsgApp (1: one entry each, as figure 8 needs). */
  readonly maxSizePerMsg: number;
  /** Applied entries between snapshots (and log compactions). */
  readonly snapshotEvery: number;
  /**
   * Chance each live peer of a crashed node is told so (reportLeaderUnreachable: its transport
   * saw the crashed process's port refuse a connection), after a network delay, unless the link
   * is cut; 0: every crash is a machine loss that shows only by silence.
   */
  readonly leaderLossReported: number;
  /** Chance a live node is told its live leader is unreachable (a false report). */
  readonly falseLeaderLossReport: number;
}

export function drawNetwork(prng: Prng): NetworkFaults {
  return {
    dropRate: prng.pick([0, 0.01, 0.05, 0.15]),
    duplicateRate: prng.pick([0, 0.02, 0.1]),
    delayMin: 1,
    delayMax: prng.pick([4, 12, 30]),
  };
}

/**
 * The shape of the Raft paper's figure 8: crashes aimed at new leaders, at leaders that just
 * appended and at leaders that just committed (losing that Ready's messages), restarts in the
 * order nodes went down, one entry per MsgApp, no other faults. Committing an entry of an
 * earlier term by counting replicas loses it under this schedule.
 */
export const figure8Faults: Partial<FaultPlan> = {
  figure8: true,
  leaderCrashOnAppend: 0.3,
  leaderCrashOnElect: 0.7,
  leaderCrashOnCommit: 1,
  commitCrashLosesMessages: 1,
  aimedCrashAfterSend: 0,
  crashOnAck: 0,
  fsyncUnitsMax: 0,
  crash: 0,
  restart: 0.15,
  restartOldestFirst: true,
  readyCrash: 0,
  partition: 0,
  confChange: 0,
  transferLeader: 0,
  network: { dropRate: 0.05, duplicateRate: 0, delayMin: 1, delayMax: 12 },
  maxSizePerMsg: 1,
};

/** Chance a run of the default mix follows the figure 8 schedule. */
const figure8Share = 0.25;

export function drawFaultPlan(prng: Prng): FaultPlan {
  const plan = { ...drawMixedFaultPlan(prng), announceCommit: drawAnnounceCommit(prng.seed), ...drawLeaderLossReports(prng.seed) };
  return prng.chance(figure8Share) ? { ...plan, ...figure8Faults } : plan;
}

/** The leader-loss report rates for a seed, from a stream of their own (the seed's other draws do not depend on them). */
function drawLeaderLossReports(seed: number): Pick<FaultPlan, 'leaderLossReported' | 'falseLeaderLossReport'> {
  const prng = new Prng(((seed % 2 ** 32) ^ leaderLossStream) >>> 0);
  return { leaderLossReported: prng.pick([0, 0.5, 0.9, 1]), falseLeaderLossReport: prng.pick([0, 0.01, 0.05]) };
}

const leaderLossStream = 0x1ea0e7;

/**
 * Config.announceCommit for a seed, from a stream of its own: the seed's other draws (and so
 * every run with the commit announced) do not depend on it.
 */
function drawAnnounceCommit(seed: number): boolean {
  return new Prng(((seed % 2 ** 32) ^ announceCommitStream) >>> 0).chance(0.5);
}

const announceCommitStream = 0x5a17c0;

function drawMixedFaultPlan(prng: Prng): Omit<FaultPlan, 'announceCommit' | 'leaderLossReported' | 'falseLeaderLossReport'> {
  return {
    figure8: false,
    network: drawNetwork(prng),
    networkChange: prng.pick([0, 0.01, 0.03]),
    partition: prng.pick([0.005, 0.02, 0.05]),
    heal: prng.pick([0.05, 0.1, 0.2]),
    crash: prng.pick([0, 0.005, 0.015, 0.03]),
    restart: prng.pick([0.05, 0.1, 0.3]),
    restartOldestFirst: prng.chance(0.5),
    readyCrash: prng.pick([0, 0.001, 0.005]),
    leaderCrashOnAppend: prng.pick([0, 0, 0.01, 0.05]),
    leaderCrashOnElect: prng.pick([0, 0, 0.05, 0.2]),
    leaderCrashOnCommit: prng.pick([0, 0, 0.02, 0.1]),
    commitCrashLosesMessages: 0.5,
    aimedCrashAfterSend: 0.5,
    crashOnAck: prng.pick([0, 0.01, 0.03]),
    confChange: prng.pick([0, 0.02, 0.05]),
    confBurst: prng.pick([0, 0.5]),
    partitionOnConfChange: prng.pick([0, 0.3]),
    transferLeader: prng.pick([0, 0.01, 0.03]),
    tickJitter: prng.pick([0, 2, 5]),
    snapshotEvery: prng.pick([8, 25, 100]),
    fsyncUnitsMax: prng.pick([0, 3, 12]),
    checkQuorum: prng.chance(0.5),
    maxSizePerMsg: 1024,
  };
}
