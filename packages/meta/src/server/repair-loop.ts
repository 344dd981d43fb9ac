import { limits } from '@basalt/stdx';
import type { PlannedCommand, PlannerFacts } from '../state/index.js';
import type { ChunkServerLiveness } from './chunk-server-liveness.js';
import type { MetaMetrics } from './metrics.js';
import type { RaftHost } from './raft-host.js';

export interface RepairLoopOptions {
  /** How often the leader runs a planner round. */
  intervalMs: number;
  /** A chunk server silent this long is marked down. */
  downAfterMs: number;
  /** A server down this long is marked out and its replicas rebuilt elsewhere. */
  downOutIntervalMs: number;
  metrics: MetaMetrics;
  log(line: string): void;
}

/**
 * The leader's repair loop: about once a second it runs the pure planner on the applied state
 * and the liveness facts, and proposes the commands it returns, together (a round never
 * overlaps the next). A refused command (the state moved on between planning and commit)
 * is logged and left to the next round, which plans on the newer state.
 */
export class RepairLoop {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** A nudge came while a round ran: run another as soon as it ends. */
  private again = false;

  constructor(private readonly host: RaftHost, private readonly liveness: ChunkServerLiveness, private readonly opts: RepairLoopOptions) {}

  start(): void {
    this.timer = setInterval(() => this.runRound(), this.opts.intervalMs);
  }

  /**
   * Runs a round now instead of at the next tick (after a promotion: the copy slot it freed on
   * its source and target can take the next copy at once, so a returning server's catch-ups
   * follow one another without a second's wait each).
   */
  nudge(): void {
    if (this.running) this.again = true;
    else this.runRound();
  }

  private runRound(): void {
    if (this.timer === undefined || this.running || !this.host.isLeader) return;
    this.running = true;
    this.again = false;
    void this.round().finally(() => {
      this.running = false;
      if (this.again) this.runRound();
    });
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Proposes a round's commands together: they name distinct extents (or are only liveness
   * changes), each decided at its own epoch and checked again at apply, so their order in the log
   * does not matter, and together they share Raft batches (a server marked out leaves every set
   * it leads in one or two commits, not one commit per extent).
   */
  private async round(): Promise<void> {
    const plan = this.host.readStale((s) => s.planRepairs(this.facts(s.listServers().map((server) => server.id))));
    await Promise.all(plan.map((cmd) => this.proposeOne(cmd)));
  }

  private async proposeOne(cmd: PlannedCommand): Promise<void> {
    try {
      const result = await this.host.propose(cmd);
      this.opts.metrics.plannerActions.inc({ kind: actionKind(cmd), result: result.ok ? 'applied' : 'refused' });
      this.opts.log(`repair: ${describe(cmd)}${result.ok ? '' : ` refused: ${result.error.message}`}`);
      if (result.ok && cmd.type === 'markServerDown') this.opts.metrics.chunkServersDown.inc();
    } catch (err) {
      this.opts.log(`repair: could not propose ${describe(cmd)}: ${String(err)}`);
    }
  }

  private facts(serverIds: readonly string[]): PlannerFacts {
    return {
      nowMs: Date.now(),
      silentMs: this.liveness.silentMs(serverIds),
      suspect: this.liveness.suspect(),
      downAfterMs: this.opts.downAfterMs,
      downOutIntervalMs: this.opts.downOutIntervalMs,
      actionsMax: limits.repairActionsPerRoundMax,
      copiesPerServerMax: limits.repairCopiesPerServerMax,
    };
  }
}

/** The metrics label of a planned command: its type, with the reason of a drop. */
function actionKind(cmd: PlannedCommand): string {
  return cmd.type === 'dropReplica' ? `dropReplica:${cmd.reason ?? 'unreachable'}` : cmd.type;
}

function describe(cmd: PlannedCommand): string {
  switch (cmd.type) {
    case 'markServerDown':
      return `chunk server ${cmd.serverId} is silent: marked down`;
    case 'markServerOut':
      return `chunk server ${cmd.serverId} is down past the down-out interval: marked out`;
    case 'dropReplica':
      return `drop ${cmd.serverId} from extent ${cmd.index} of ${cmd.name} at epoch ${cmd.expectedEpoch} (${cmd.reason ?? 'unreachable'})`;
    case 'addRebuilding':
      return `rebuild extent ${cmd.index} of ${cmd.name} on ${cmd.serverId} at epoch ${cmd.expectedEpoch}`;
  }
}
