/** Majority arithmetic over a set of voters (single-server changes: never a joint config). */
import type { NodeId } from './types.js';

export function quorumSize(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * The largest index acknowledged by a majority of `voters`, given each voter's match.
 * A voter without a known match counts as 0. With no voters, 0.
 */
export function committedIndex(voters: ReadonlySet<NodeId>, matchOf: (id: NodeId) => number): number {
  if (voters.size === 0) return 0;
  const matches: number[] = [];
  for (const id of voters) matches.push(matchOf(id));
  matches.sort((a, b) => b - a);
  return matches[quorumSize(voters.size) - 1] as number;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** The outcome of an election given the votes received so far (non-voters' votes are ignored). */
export function voteResult(voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = quorumSize(voters.size);
  if (granted >= q) return 'won';
  if (rejected > voters.size - q) return 'lost';
  return 'pending';
}
