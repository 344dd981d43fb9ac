import type { ConfState } from '@basalt/raft';
import type { raftpb } from '@basalt/wire';

export interface MemberInfo {
  id: string;
  address: string;
  learner: boolean;
}

/**
 * Where members listen. Raft's configuration says who is a member; this book says how to
 * reach each one. It is filled from --peers, from the address in each AddNode/AddLearner
 * conf change, from snapshots, and from the sender address of Raft batches.
 */
export class MemberBook {
  private readonly addresses = new Map<string, string>();

  constructor(initial: ReadonlyMap<string, string> = new Map()) {
    for (const [id, address] of initial) this.addresses.set(id, address);
  }

  set(id: string, address: string): void {
    if (address !== '') this.addresses.set(id, address);
  }

  get(id: string): string | undefined {
    return this.addresses.get(id);
  }

  /** The members of `conf` with their addresses (voters first, then learners, each by id). */
  list(conf: ConfState): MemberInfo[] {
    const voters = [...conf.voters].sort().map((id) => ({ id, address: this.get(id) ?? '', learner: false }));
    const learners = [...conf.learners].sort().map((id) => ({ id, address: this.get(id) ?? '', learner: true }));
    return [...voters, ...learners];
  }

  /** Encodes the book for a snapshot (only members of `conf`). */
  toPb(conf: ConfState): raftpb.IMemberAddress[] {
    return this.list(conf).map((m) => ({ id: m.id, address: m.address }));
  }

  loadPb(members: readonly raftpb.IMemberAddress[]): void {
    for (const m of members) this.set(m.id ?? '', m.address ?? '');
  }
}
