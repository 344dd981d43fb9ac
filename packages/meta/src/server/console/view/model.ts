/**
 * What one console page shows, gathered by the console server from the Meta API and the sampled
 * per-volume metrics, and rendered by pages.ts. Plain data: every field is filled in.
 */
export interface MemberRow {
  id: string;
  address: string;
  /** "leader", "follower", ... or "unreachable" when its Status call failed. */
  role: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  learner: boolean;
}

export interface ServerRow {
  id: string;
  address: string;
  zone: string;
  /** As metad reports it: "up", "down", "out", "draining", "removed". */
  state: string;
  capacityBytes: number;
  freeBytes: number;
  extentCount: number;
  lastHeartbeatMs: number;
}

export interface VolumeRow {
  name: string;
  sizeBytes: number;
  extentSizeBytes: number;
  extentCount: number;
  allocatedExtents: number;
  replicationFactor: number;
  /** Writer lease holder, '' when none. */
  writer: string;
  generation: number;
  labels: Readonly<Record<string, string>>;
  degradedExtents: number;
}

export interface ExtentRow {
  index: number;
  epoch: number;
  primary: string;
  replicas: readonly string[];
}

/** Repair progress from GetRepairStatus; absent while metad does not answer it. */
export interface RepairRow {
  degradedExtents: number;
  criticalExtents: number;
  rebuildingReplicas: number;
  waitingExtents: number;
  bytesLeft: number;
  rateBytesPerSec: number;
  etaSeconds: number;
}

/** One volume's I/O over one sampling interval, as its agents reported it. */
export interface RatePoint {
  atMs: number;
  iops: number;
  readBytesPerSec: number;
  writeBytesPerSec: number;
  /** Mean latency of the ops in the interval; 0 when there were none. */
  meanLatencyMs: number;
}

export interface ClusterSnapshot {
  nowMs: number;
  clusterName: string;
  /** The member serving this page (the leader). */
  self: string;
  leaderId: string;
  term: number;
  members: readonly MemberRow[];
  servers: readonly ServerRow[];
  volumes: readonly VolumeRow[];
  degradedTotal: number;
  repair: RepairRow | undefined;
}

export interface VolumeSnapshot {
  nowMs: number;
  volume: VolumeRow;
  extents: readonly ExtentRow[];
  /** Server id -> state, to show where each replica lives and whether it is up. */
  serverStates: ReadonlyMap<string, string>;
  /** Oldest first; empty when no agent's metrics are sampled. */
  rates: readonly RatePoint[];
  /** Whether the console samples any agent at all (to explain an empty chart). */
  sampling: boolean;
  /** How often it samples, and how many samples it keeps (the chart's width). */
  sampleIntervalMs: number;
  samplesMax: number;
}
