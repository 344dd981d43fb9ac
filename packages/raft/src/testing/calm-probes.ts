import type { Prng } from '@basalt/stdx';
import type { NodeId } from '../core/types.js';
import type { ViolationKind } from './safety-checker.js';
import type { SimClients } from './sim-clients.js';
import type { SimNetwork } from './sim-network.js';
import type { SimNode } from './sim-node.js';
import type { Trace } from './trace.js';

/** What the probes need from the simulation. */
export interface ProbeHost {
  readonly prng: Prng;
  readonly trace: Trace;
  readonly network: SimNetwork;
  readonly clients: SimClients;
  /** Check-quorum (and the leader lease) is on in this run. */
  readonly checkQuorum: boolean;
  readonly electionTicks: number;
  /** The current tick. */
  now(): number;
  leader(): SimNode | undefined;
  node(id: NodeId): SimNode | undefined;
  fail(kind: ViolationKind, message: string): void;
}

type Stage =
  | { readonly kind: 'isolate'; readonly follower: NodeId; readonly leader: SimNode; readonly term: number; readonly until: number }
  | { readonly kind: 'watch'; readonly leader: SimNode; readonly term: number; readonly until: number; readonly falseReport: 'due' | 'done' | 'off' }
  | { readonly kind: 'transfer'; readonly target: NodeId; readonly until: number }
  | { readonly kind: 'done' };

/**
 * Checks run on a healthy cluster once the faults stopped and liveness was reached, one after
 * the other, each on calm time (ticks):
 * 1. Isolate a follower for several election timeouts (with clients writing, or, when the
 *    leader lease exists, with clients quiet so that its log stays up to date), heal, and
 *    watch: the connected leader must keep its term (`needless_deposition` otherwise). This is
 *    what pre-vote and the leader lease are for. With the lease on, once every voter follows the
 *    leader again, one follower is told falsely that the leader is unreachable
 *    (reportLeaderUnreachable): its early campaign must not depose the leader either.
 * 2. Append an entry on the leader and at once transfer leadership to a follower: the target
 *    must lead within a few election timeouts (the leader brings it up to date first).
 */
export class CalmProbes {
  private stage: Stage;

  constructor(private readonly host: ProbeHost) {
    this.stage = this.startIsolation();
  }

  get done(): boolean {
    return this.stage.kind === 'done';
  }

  /** Once per tick; moves through the stages. */
  tick(): void {
    const now = this.host.now();
    const stage = this.stage;
    switch (stage.kind) {
      case 'isolate':
        if (now >= stage.until) this.startWatch(stage);
        return;
      case 'watch':
        if (stage.falseReport === 'due' && this.stillLeads(stage.leader, stage.term)) this.stage = this.maybeReportFalsely(stage);
        if (!this.stillLeads(stage.leader, stage.term)) {
          this.host.fail('needless_deposition', `${stage.leader.id}, leader of term ${stage.term}, connected and healthy, was deposed after a follower rejoined (now ${this.describe()})`);
          this.stage = { kind: 'done' };
        } else if (now >= stage.until) {
          this.startTransfer(stage.leader);
        }
        return;
      case 'transfer':
        if (this.host.leader()?.id === stage.target) {
          this.host.trace.record(`probe transfer to ${stage.target} done`);
          this.stage = { kind: 'done' };
        } else if (now >= stage.until) {
          this.host.fail('liveness', `leadership transfer to ${stage.target} on a calm network did not happen within ${stage.until} (now ${this.describe()})`);
          this.stage = { kind: 'done' };
        }
        return;
      case 'done':
        return;
    }
  }

  private startIsolation(): Stage {
    const leader = this.host.leader();
    const st = leader?.status();
    const followers = st?.conf.voters.filter((id) => id !== leader?.id) ?? [];
    if (leader === undefined || st === undefined || followers.length === 0) return { kind: 'done' };
    const follower = this.host.prng.pick(followers);
    const quiet = this.host.checkQuorum && this.host.prng.chance(0.5);
    if (quiet) this.host.clients.pause();
    const everyoneElse = [...st.conf.voters, ...st.conf.learners].filter((id) => id !== follower);
    this.host.network.split([follower], everyoneElse);
    // Not quiet: at least one entry the follower misses, whatever the clients happen to do.
    if (!quiet) leader.proposeFiller();
    const until = this.host.now() + 6 * this.host.electionTicks;
    this.host.trace.record(`probe isolate ${follower} until ${until}${quiet ? ' quiet' : ''}, leader ${leader.id} term ${st.hardState.term}`);
    return { kind: 'isolate', follower, leader, term: st.hardState.term, until };
  }

  private startWatch(isolation: Extract<Stage, { kind: 'isolate' }>): void {
    this.host.network.heal();
    this.host.trace.record(`probe heal ${isolation.follower}`);
    // A leader that lost its lead while the follower was away was not healthy: nothing to watch.
    const until = this.host.now() + 4 * this.host.electionTicks;
    const falseReport = this.host.checkQuorum ? 'due' : 'off';
    this.stage = this.stillLeads(isolation.leader, isolation.term) ? { kind: 'watch', leader: isolation.leader, term: isolation.term, until, falseReport } : { kind: 'done' };
  }

  /** Once every voter follows the leader: tells one of them, falsely, that the leader is unreachable. */
  private maybeReportFalsely(watch: Extract<Stage, { kind: 'watch' }>): Stage {
    const voters = watch.leader.status()?.conf.voters ?? [];
    const followers = voters.filter((id) => id !== watch.leader.id);
    if (!voters.every((id) => this.host.node(id)?.status()?.softState.leader === watch.leader.id) || followers.length === 0) return watch;
    const follower = this.host.prng.pick(followers);
    this.host.trace.record(`probe false report ${follower}: ${watch.leader.id} unreachable`);
    this.host.node(follower)?.reportLeaderUnreachable(watch.leader.id);
    return { ...watch, falseReport: 'done' };
  }

  private startTransfer(leader: SimNode): void {
    this.host.clients.resume();
    const voters = leader.status()?.conf.voters.filter((id) => id !== leader.id) ?? [];
    if (voters.length === 0) {
      this.stage = { kind: 'done' };
      return;
    }
    const target = this.host.prng.pick(voters);
    leader.proposeFiller();
    leader.transferLeader(target);
    this.stage = { kind: 'transfer', target, until: this.host.now() + 3 * this.host.electionTicks };
  }

  private stillLeads(node: SimNode, term: number): boolean {
    const st = node.status();
    return st !== undefined && st.softState.role === 'leader' && st.hardState.term === term;
  }

  private describe(): string {
    const leader = this.host.leader();
    return leader === undefined ? 'no leader' : `leader ${leader.id} term ${leader.status()?.hardState.term}`;
  }
}
