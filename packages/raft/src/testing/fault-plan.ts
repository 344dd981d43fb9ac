import type { Prng } from '@basalt/stdx';
import type { NetworkFaults } from './sim-network.js';

/**
 * How hard one simulated run hits the cluster, drawn from its seed (as
 * TigerBeetle's VOPR draws its fault options): every run mixes the faults, at
 * rates that differ from run to run. Rates are chances per tick unless named.
 */
export interface FaultPlan {
  readonly network: NetworkFaults;
  /** Chance the network's loss, duplication and delay are redrawn. */
  readonly networkChange: number;
  /** Chance of a new partition (isolation, split, one-way cuts, or the leader cut off). */
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
  /** Chance the leader is asked to add, promote or remove a member. */
  readonly confChange: number;
  readonly transferLeader: number;
  /** Each node's tick interval varies by up to this many time units (clock drift). */
  readonly tickJitter: number;
  /** A synced write takes up to this many time units (a tick is 10); the node goes on stepping meanwhile. */
  readonly fsyncUnitsMax: number;
  /** Applied entries between snapshots (and log compactions). */
  readonly snapshotEvery: number;
}

export function drawNetwork(prng: Prng): NetworkFaults {
  return {
    dropRate: prng.pick([0, 0.01, 0.05, 0.15]),
    duplicateRate: prng.pick([0, 0.02, 0.1]),
    delayMin: 1,
    delayMax: prng.pick([4, 12, 30]),
  };
}

export function drawFaultPlan(prng: Prng): FaultPlan {
  return {
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
    confChange: prng.pick([0, 0.02, 0.05]),
    transferLeader: prng.pick([0, 0.01, 0.03]),
    tickJitter: prng.pick([0, 2, 5]),
    snapshotEvery: prng.pick([8, 25, 100]),
    fsyncUnitsMax: prng.pick([0, 3, 12]),
  };
}
