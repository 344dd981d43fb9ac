/**
 * The plain-data vocabulary of the Raft core: entries, messages, hard state, snapshots,
 * the Ready batch and the Storage interface. Everything here is data without classes or
 * methods, so that the metadata service can map it 1:1 onto protobuf messages and the
 * simulator can copy, hash and log it.
 *
 * Terms and indexes are JavaScript numbers; every increment is checked with
 * `assertSafeUint` (see docs/raft.md, "Why number and not bigint").
 */

/** A member's id. The empty string means "none" (no vote, no leader). */
export type NodeId = string;

/** The id that means "no node": no vote cast, no leader known. */
export const None: NodeId = '';

export const EntryType = {
  /** An application command (or the empty entry a new leader appends). */
  Normal: 'Normal',
  /** `data` is an encoded ConfChange (see conf-change-codec.ts). */
  ConfChange: 'ConfChange',
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** One log entry. Invariant: index >= 1, term >= 1 (index 0 / term 0 is the empty log's sentinel). */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must be on disk before any message that depends on it is sent. */
export interface HardState {
  /** The latest term this node has seen. Never decreases. */
  term: number;
  /** The candidate this node voted for in `term`, or '' (None). */
  vote: NodeId;
  /** The highest index known committed. Never decreases; never above the last persisted index. */
  commit: number;
}

/** The membership of the cluster. A node is in at most one of the two lists. */
export interface ConfState {
  /** Members that vote and count towards quorums. */
  voters: NodeId[];
  /** Members that receive the log but neither vote nor count towards quorums. */
  learners: NodeId[];
}

export const ConfChangeType = {
  /** Add a voter, or promote an existing learner to voter. */
  AddNode: 'AddNode',
  /** Add a learner (refused for a current voter). */
  AddLearner: 'AddLearner',
  /** Remove a voter or a learner. */
  RemoveNode: 'RemoveNode',
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

/** A single-server membership change, carried in an entry of type ConfChange. */
export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to Raft (e.g. the new member's address). */
  context?: Uint8Array;
}

export interface SnapshotMeta {
  /** The last index the snapshot covers (0 for "no snapshot"). */
  index: number;
  /** The term of the entry at `index`. */
  term: number;
  /** The membership as of `index`. */
  conf: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** The application's state machine image, opaque to Raft. */
  data: Uint8Array;
}

export const MessageType = {
  /** Leader -> follower: append `entries` after (`index`, `logTerm`); carries the leader's `commit`. */
  MsgApp: 'MsgApp',
  /**
   * Follower -> leader: on success `index` is the last index now matching the leader;
   * on `reject`, `index` is the rejected MsgApp's index and (`rejectHint`, `logTerm`) the
   * follower's guess of where the logs may match (fast back-off).
   */
  MsgAppResp: 'MsgAppResp',
  /** Candidate -> voter: vote for me in `term`; my last entry is (`index`, `logTerm`). */
  MsgVote: 'MsgVote',
  /** Voter -> candidate: `reject` false means the vote is granted. */
  MsgVoteResp: 'MsgVoteResp',
  /** Like MsgVote, but `term` is the term the sender would campaign in; nobody's term changes. */
  MsgPreVote: 'MsgPreVote',
  MsgPreVoteResp: 'MsgPreVoteResp',
  /** Leader -> follower: install `snapshot` (the follower's next entry was compacted away). */
  MsgSnap: 'MsgSnap',
  /** Leader -> follower: I am alive; `commit` is min(leader commit, follower match); `context` for ReadIndex. */
  MsgHeartbeat: 'MsgHeartbeat',
  /** Follower -> leader: echoes the heartbeat's `context`. */
  MsgHeartbeatResp: 'MsgHeartbeatResp',
  /** Follower -> leader: a ReadIndex request forwarded for a local caller; `context` is its ctx. */
  MsgReadIndex: 'MsgReadIndex',
  /** Leader -> follower: the read index (`index`) for the request `context`. */
  MsgReadIndexResp: 'MsgReadIndexResp',
  /** Leader -> transferee: start an election now, skipping pre-vote (leadership transfer). */
  MsgTimeoutNow: 'MsgTimeoutNow',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One Raft message. All fields are always present (zero values when unused) except
 * `snapshot` and `context`, so that a protobuf round trip gives back an equal object.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  /**
   * The sender's current term; for MsgPreVote the term it would campaign in, for
   * MsgPreVoteResp the term of the request it answers (when granted).
   */
  term: number;
  /** MsgApp: term of the entry at `index`. MsgVote/MsgPreVote: term of the sender's last entry. MsgAppResp reject: term of the hinted entry. */
  logTerm: number;
  /** MsgApp: index preceding `entries`. MsgAppResp: see above. MsgVote/MsgPreVote: sender's last index. MsgReadIndexResp: the read index. */
  index: number;
  /** MsgApp: the entries to append (may be empty, e.g. a commit update or a probe). */
  entries: Entry[];
  /** MsgApp/MsgHeartbeat: the leader's commit index (bounded for heartbeats by the follower's match). */
  commit: number;
  /** Responses: true if the request was refused. */
  reject: boolean;
  /** MsgAppResp reject: the follower's suggested index to probe next (<= its last index). */
  rejectHint: number;
  /** MsgSnap only. */
  snapshot?: Snapshot;
  /** MsgHeartbeat(Resp): the ReadIndex round's ctx; MsgReadIndex(Resp): the request's ctx. */
  context?: Uint8Array;
}

/** A linearizable read: once the local applied index reaches `index`, reading the state machine for `ctx` is safe. */
export interface ReadState {
  index: number;
  ctx: Uint8Array;
}

export type Role = 'follower' | 'pre_candidate' | 'candidate' | 'leader';

/** Volatile state, useful to callers, never persisted. */
export interface SoftState {
  /** The leader this node knows of in its current term, or '' (None). */
  leader: NodeId;
  role: Role;
}

/**
 * What the caller must do, in this order (see docs/raft.md, "Driving a RawNode"):
 * 1. persist `snapshot` (if any), append `entries` and save `hardState` (if any); fsync if `mustSync`;
 * 2. send `messages` (they may depend on what step 1 persisted);
 * 3. apply `snapshot` then `committedEntries` to the state machine, serve `readStates`;
 * 4. call `advance(ready)`.
 */
export interface Ready {
  /** Present when leader or role changed since the last Ready. */
  softState?: SoftState;
  /** Present when term, vote or commit changed since the last Ready. */
  hardState?: HardState;
  /** Reads that became ready; serve each once applied >= its index. */
  readStates: ReadState[];
  /** Entries to append to stable storage (may overwrite a conflicting suffix there). */
  entries: Entry[];
  /** A snapshot to install in stable storage and the state machine, before `entries`. */
  snapshot?: Snapshot;
  /** Entries to apply, in order; they are committed and were (or are in this Ready) persisted. */
  committedEntries: Entry[];
  /** Messages to send after step 1. */
  messages: Message[];
  /** True when `entries`, the term or the vote changed: step 1 needs an fsync. A commit-only change does not. */
  mustSync: boolean;
}

/**
 * The read side of stable storage, synchronous as in etcd. Raft checks bounds before
 * calling; an implementation asserts them.
 * Invariant: firstIndex() - 1 is the index of the latest snapshot (0 if none), and the
 * log holds every index in [firstIndex(), lastIndex()].
 */
export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at most `maxBytes` of data but at least one entry. Requires firstIndex() <= lo < hi <= lastIndex() + 1. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The term of entry `index`. Requires firstIndex() - 1 <= index <= lastIndex(). */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The latest snapshot (meta.index 0 if none was taken). */
  snapshot(): Snapshot;
}

/**
 * Protocol-breaking switches, one per safety rule of the Raft paper and thesis, for the
 * mutation test that proves the simulation's checkers catch each broken rule. Never set
 * them outside tests. Each names the rule it breaks:
 * - `grantEveryVote`: one vote per term (§5.2): grant every vote and pre-vote request.
 * - `voteWithoutUpToDateCheck`: the election restriction (§5.4.1): grant votes to a candidate
 *   whose log is behind.
 * - `appendIgnoringPrevTerm`: log matching (§5.3): accept an append whose previous entry is
 *   at the right index but of another term.
 * - `commitPriorTermByCount`: commit only entries of the current term by counting (§5.4.2,
 *   figure 8).
 * - `ackBeforePersist`: persistence before acknowledgement (§5.1, thesis §3.8): every node
 *   sends a Ready's messages (votes, append acknowledgements) before writing it.
 * - `readIndexWithoutQuorum`: ReadIndex confirms leadership with a heartbeat round (thesis
 *   §6.4): answer at once.
 * - `voteDuringLease`: the leader lease of check-quorum (thesis §4.2.3, §6.4.1): answer votes
 *   and pre-votes of a higher term while a leader is heard.
 * - `noEmptyEntryOnElection`: a new leader appends an empty entry (thesis §6.4): skip it.
 * - `skipPreVote`: pre-vote (thesis §9.6): campaign in a new term at once.
 * - `snapshotMatchByIndexOnly`: a follower keeps its log only if it holds the snapshot's last
 *   entry, index and term (§7): compare the index only.
 * - `concurrentConfChanges`: one membership change at a time (thesis §4.1): allow another
 *   while one is pending.
 * - `transferBeforeCaughtUp`: leadership transfer brings the target up to date first
 *   (thesis §3.10): send MsgTimeoutNow at once.
 */
export const unsafeTestingKnobNames = [
  'grantEveryVote',
  'voteWithoutUpToDateCheck',
  'appendIgnoringPrevTerm',
  'commitPriorTermByCount',
  'ackBeforePersist',
  'readIndexWithoutQuorum',
  'voteDuringLease',
  'noEmptyEntryOnElection',
  'skipPreVote',
  'snapshotMatchByIndexOnly',
  'concurrentConfChanges',
  'transferBeforeCaughtUp',
] as const;
export type UnsafeTestingKnob = (typeof unsafeTestingKnobNames)[number];
export type UnsafeTestingKnobs = { [K in UnsafeTestingKnob]?: boolean };

export interface Config {
  /** This node's id; must not be '' and must appear in the configuration (unless joining as a learner or a new voter). */
  id: NodeId;
  /** Stable storage; Raft reads the initial state and the log from it. */
  storage: Storage;
  /** Ticks without hearing a leader before a follower campaigns; the actual timeout is random in [electionTick, 2*electionTick). */
  electionTick: number;
  /** Ticks between a leader's heartbeats. Must be < electionTick. */
  heartbeatTick: number;
  /** Run a pre-vote round before disrupting the cluster with a new term. */
  preVote: boolean;
  /** A leader steps down when a quorum was not active within an election timeout; followers ignore votes while they hear a leader. */
  checkQuorum: boolean;
  /**
   * When the leader's commit index moves, send every follower an append at once, an empty one if
   * it has no new entries (etcd's behaviour; the default). False: a follower with nothing new
   * learns the commit index from the next append or heartbeat (within heartbeatTick), which spares
   * it a message, a Ready and an acknowledgement per commit. Safety does not depend on it.
   */
  announceCommit?: boolean;
  /** Maximum bytes of entry data in one MsgApp (at least one entry is always sent). */
  maxSizePerMsg: number;
  /** Maximum MsgApp in flight to one follower in replicate state. */
  maxInflightMsgs: number;
  /** Maximum bytes of entry data the leader holds uncommitted; proposals beyond are refused. */
  maxUncommittedEntriesSize: number;
  /** The last index the application applied (on restart); 0 for a fresh node. */
  applied: number;
  /** Uniform random in [0, 1), e.g. `() => prng.float()`. The only source of randomness. */
  random: () => number;
  /** Test-only protocol breakers; see UnsafeTestingKnobs. */
  unsafeTestingKnobs?: UnsafeTestingKnobs;
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** The leader's view of one follower (Status only; a copy). */
export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  recentActive: boolean;
  inflight: number;
  isLearner: boolean;
}

export interface Status {
  id: NodeId;
  hardState: HardState;
  softState: SoftState;
  applied: number;
  lastIndex: number;
  conf: ConfState;
  /** Present on the leader only. */
  progress?: Record<NodeId, ProgressStatus>;
  /** The target of an ongoing leadership transfer, or ''. */
  leadTransferee: NodeId;
}

/** Why a proposal was not appended. Not an error: the caller retries or redirects. */
export type ProposeRefusal =
  | { ok: false; reason: 'not_leader'; leaderHint: NodeId }
  /** A leadership transfer is in progress; retry shortly. */
  | { ok: false; reason: 'dropped' }
  | { ok: false; reason: 'too_many_uncommitted' }
  | { ok: false; reason: 'too_large'; maxBytes: number }
  /** proposeConfChange only: another configuration change is not yet applied. */
  | { ok: false; reason: 'conf_change_pending' }
  /** proposeConfChange only: the change makes no sense for the current configuration. */
  | { ok: false; reason: 'invalid_conf_change'; detail: string };

/** A successful proposal: it will commit at (`index`, `term`) or be overwritten. */
export type ProposeResult = { ok: true; index: number; term: number } | ProposeRefusal;

export type ReadIndexResult = { ok: true } | { ok: false; reason: 'not_leader'; leaderHint: NodeId };

export type TransferResult =
  | { ok: true }
  | { ok: false; reason: 'not_leader'; leaderHint: NodeId }
  | { ok: false; reason: 'not_a_voter' | 'already_leader' };

/** The outcome of stepping a message received from the network. */
export type StepResult = { ok: true } | { ok: false; reason: 'peer_not_found' };
