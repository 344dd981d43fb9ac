import type { ConfChange, ConfState, NodeId } from './types.js';

/**
 * The current configuration: voters and learners, disjoint. Changes come one server at a
 * time (Raft thesis §4.1), so any two consecutive configurations share a majority.
 */
export class Membership {
  readonly voters: Set<NodeId>;
  readonly learners: Set<NodeId>;

  constructor(conf: ConfState) {
    this.voters = new Set(conf.voters);
    this.learners = new Set(conf.learners.filter((id) => !this.voters.has(id)));
  }

  has(id: NodeId): boolean {
    return this.voters.has(id) || this.learners.has(id);
  }

  /** Why `cc` cannot be applied to this configuration, or undefined if it can. */
  invalidReason(cc: ConfChange): string | undefined {
    if (cc.nodeId === '') return 'node id must not be empty';
    switch (cc.type) {
      case 'AddNode':
        return this.voters.has(cc.nodeId) ? `${cc.nodeId} is already a voter` : undefined;
      case 'AddLearner':
        if (this.voters.has(cc.nodeId)) return `${cc.nodeId} is a voter; remove it before adding it as a learner`;
        return this.learners.has(cc.nodeId) ? `${cc.nodeId} is already a learner` : undefined;
      case 'RemoveNode':
        if (!this.has(cc.nodeId)) return `${cc.nodeId} is not a member`;
        return this.voters.has(cc.nodeId) && this.voters.size === 1 ? 'cannot remove the last voter' : undefined;
    }
  }

  /** Applies a valid change (callers check invalidReason first). */
  apply(cc: ConfChange): void {
    switch (cc.type) {
      case 'AddNode':
        this.learners.delete(cc.nodeId);
        this.voters.add(cc.nodeId);
        break;
      case 'AddLearner':
        this.learners.add(cc.nodeId);
        break;
      case 'RemoveNode':
        this.voters.delete(cc.nodeId);
        this.learners.delete(cc.nodeId);
        break;
    }
  }

  confState(): ConfState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
  }
}
