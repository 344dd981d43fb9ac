/**
 * What the metadata benchmark needs from a system under test: a 3-member cluster of real
 * processes, a client of the kind its users run, and the ability to find and kill the leader.
 * Both etcd and Basalt metad implement it, so one workload runs against each unchanged.
 */
export interface Member {
  /** Stable name across restarts, e.g. "etcd-2". */
  readonly name: string;
  /** PID of the current incarnation; undefined while stopped. */
  readonly pid: number | undefined;
}

export interface BenchTarget {
  readonly system: string;
  readonly members: readonly Member[];
  /** Starts the cluster and waits until it serves writes. */
  start(): Promise<void>;
  /** Creates `keys` registers (etcd keys, Basalt volumes) that the workload writes and reads. */
  prepare(keys: number): Promise<void>;
  /** Writes a small value to register `key`; rejects on failure or after `deadlineMs`. */
  write(key: number, value: string, deadlineMs: number): Promise<void>;
  /** A linearizable read of register `key`. */
  read(key: number, deadlineMs: number): Promise<void>;
  /** The member that currently leads, asked from the cluster. */
  leader(): Promise<Member>;
  /** SIGKILLs the member's process. */
  kill(member: Member): Promise<void>;
  /** Starts a killed member again from its data dir and waits until it is a healthy follower. */
  restart(member: Member): Promise<void>;
  /** Stops every process and removes data dirs. */
  stop(): Promise<void>;
}
