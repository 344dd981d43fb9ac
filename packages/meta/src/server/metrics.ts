import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ClusterCounts } from '../state/index.js';
import type { HostStatus } from './raft-host.js';

const roles = ['leader', 'follower', 'candidate', 'pre-candidate', 'learner'] as const;

/** The Prometheus metrics of one metad member (served at /metrics). */
export class MetaMetrics {
  readonly registry = new Registry();
  /** Where the progress gauges read from when scraped (trackProgress); none before. */
  private progress: (() => HostStatus) | undefined;
  /** Where the cluster gauges read from when scraped (trackCluster); none before. */
  private cluster: (() => ClusterCounts) | undefined;
  /** Where the stored-bytes gauge reads from when scraped (trackStoredBytes); none before. */
  private stored: (() => number) | undefined;
  readonly term = this.progressGauge('basalt_meta_term', 'Current Raft term', (s) => s.term);
  readonly commitIndex = this.progressGauge('basalt_meta_commit_index', 'Highest log index known committed', (s) => s.commitIndex);
  readonly appliedIndex = this.progressGauge('basalt_meta_applied_index', 'Highest log index applied to the state machine', (s) => s.appliedIndex);
  readonly snapshotIndex = this.progressGauge('basalt_meta_snapshot_index', 'Log index of the latest snapshot', (s) => s.snapshotIndex);
  readonly isLeader = this.progressGauge('basalt_meta_is_leader', '1 when this member is the leader', (s) => (s.role === 'leader' ? 1 : 0));
  readonly role: Gauge = new Gauge({
    name: 'basalt_meta_role', help: '1 for the role this member has now', labelNames: ['role'], registers: [this.registry],
    collect: () => {
      const s = this.progress?.();
      if (s !== undefined) for (const r of roles) this.role.set({ role: r }, r === s.role ? 1 : 0);
    },
  });
  readonly chunkServers: Gauge = new Gauge({
    name: 'basalt_meta_chunk_servers', help: 'Registered chunk servers by state (up, down, out), as this member applied it; draining counts servers being drained (they are also up, down or out)',
    labelNames: ['state'], registers: [this.registry],
    collect: () => {
      const c = this.cluster?.();
      if (c === undefined) return;
      this.chunkServers.set({ state: 'up' }, c.serversUp);
      this.chunkServers.set({ state: 'down' }, c.serversDown);
      this.chunkServers.set({ state: 'out' }, c.serversOut);
      this.chunkServers.set({ state: 'draining' }, c.serversDraining);
    },
  });
  readonly volumes = this.clusterGauge('basalt_meta_volumes', 'Volumes, as this member applied them', (c) => c.volumes);
  readonly allocatedExtents = this.clusterGauge('basalt_meta_allocated_extents', 'Extents with a replica set, as this member applied them', (c) => c.allocatedExtents);
  readonly degradedExtents = this.clusterGauge(
    'basalt_meta_degraded_extents',
    'Extents with fewer replicas on up chunk servers than their factor, as this member applied them: alert when above 0 for long',
    (c) => c.degradedExtents,
  );
  readonly rebuildingReplicas = this.clusterGauge(
    'basalt_meta_rebuilding_replicas',
    'Rebuilding members (copies planned or running) over all extents, as this member applied them',
    (c) => c.rebuildingReplicas,
  );
  readonly storedBytes = this.sourcedGauge(
    'basalt_meta_stored_bytes',
    'Bytes on disk of every extent file on every chunk server, from their last heartbeats as this member heard them (the leader; 0 elsewhere); per volume: Volume.stored_bytes, basalt_chunk_volume_stored_bytes',
    () => this.stored?.(), (bytes) => bytes,
  );
  readonly plannerActions = new Counter({
    name: 'basalt_meta_repair_actions_total',
    help: 'Commands the repair planner proposed on this member (as leader), by kind (markServerDown, markServerOut, addRebuilding, dropReplica:<reason>) and result (applied, refused)',
    labelNames: ['kind', 'result'], registers: [this.registry],
  });
  readonly proposalSeconds = new Histogram({
    name: 'basalt_meta_proposal_seconds', help: 'Time from proposal to apply on the leader', registers: [this.registry],
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
  });
  readonly fsyncSeconds = new Histogram({
    name: 'basalt_meta_fsync_seconds', help: 'Time to persist a Ready with a synced LevelDB batch', registers: [this.registry],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
  });
  readonly leaderLossReports = new Counter({
    name: 'basalt_meta_leader_loss_reports_total',
    help: 'Times this member, a follower, found its leader\'s address refusing connections and campaigned early instead of waiting for the election timeout',
    registers: [this.registry],
  });
  readonly snapshots = new Counter({ name: 'basalt_meta_snapshots_total', help: 'Snapshots taken by this member', registers: [this.registry] });
  readonly snapshotBytes = new Gauge({ name: 'basalt_meta_snapshot_bytes', help: 'Size of the latest snapshot this member took', registers: [this.registry] });
  readonly snapshotSeconds = new Gauge({ name: 'basalt_meta_snapshot_seconds', help: 'Time the latest snapshot took to encode and store', registers: [this.registry] });
  readonly rpcs = new Counter({ name: 'basalt_meta_rpc_total', help: 'Meta API calls by method and result code', labelNames: ['method', 'code'], registers: [this.registry] });
  readonly rpcErrors = new Counter({ name: 'basalt_meta_rpc_errors_total', help: 'Meta API calls that failed, by method and code', labelNames: ['method', 'code'], registers: [this.registry] });
  readonly chunkServersDown = new Counter({ name: 'basalt_meta_chunk_servers_marked_down_total', help: 'Chunk servers this member (as leader) marked down', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * The Raft progress gauges read `source` when /metrics is scraped, not on every tick: the
   * member ticks 20 times a second and is mostly idle between scrapes.
   */
  trackProgress(source: () => HostStatus): void {
    this.progress = source;
  }

  /** The cluster gauges read `source` when /metrics is scraped (one pass over the state). */
  trackCluster(source: () => ClusterCounts): void {
    this.cluster = source;
  }

  /** The stored-bytes gauge reads `source` when /metrics is scraped. */
  trackStoredBytes(source: () => number): void {
    this.stored = source;
  }

  countRpc(method: string, code: string): void {
    this.rpcs.inc({ method, code });
    if (code !== 'OK') this.rpcErrors.inc({ method, code });
  }


  private progressGauge(name: string, help: string, value: (s: HostStatus) => number): Gauge {
    return this.sourcedGauge(name, help, () => this.progress?.(), value);
  }

  private clusterGauge(name: string, help: string, value: (c: ClusterCounts) => number): Gauge {
    return this.sourcedGauge(name, help, () => this.cluster?.(), value);
  }

  /** A gauge set from `source` when scraped; left alone while the source is not there yet. */
  private sourcedGauge<S>(name: string, help: string, source: () => S | undefined, value: (s: S) => number): Gauge {
    const gauge: Gauge = new Gauge({
      name, help, registers: [this.registry],
      collect: () => {
        const s = source();
        if (s !== undefined) gauge.set(value(s));
      },
    });
    return gauge;
  }
}
