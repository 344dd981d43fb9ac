import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { limits, VolumeLabels } from '@basalt/stdx';

/** The Prometheus metrics of one chunkd (names in docs/data-path.md). */
export class ChunkMetrics {
  readonly registry = new Registry();
  readonly ops = new Counter({ name: 'basalt_chunk_ops_total', help: 'Data-plane requests served, by op and result code', labelNames: ['op', 'result'], registers: [this.registry] });
  readonly bytes = new Counter({ name: 'basalt_chunk_bytes_total', help: 'Payload bytes read or written, by op', labelNames: ['op'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'basalt_chunk_op_seconds',
    help: 'Latency of data-plane requests from arrival to reply, by op',
    labelNames: ['op'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly checksumErrors = new Counter({ name: 'basalt_chunk_checksum_errors_total', help: 'Checksum mismatches: where "write" the sender sent bad data, where "stored" a stored block is corrupt', labelNames: ['where'], registers: [this.registry] });
  readonly protocolErrors = new Counter({ name: 'basalt_chunk_protocol_errors_total', help: 'Connections closed for bad protocol input', registers: [this.registry] });
  readonly connections = new Gauge({ name: 'basalt_chunk_connections', help: 'Open data-plane connections', registers: [this.registry] });
  readonly extents = new Gauge({ name: 'basalt_chunk_extents', help: 'Extent replicas held, by state', labelNames: ['state'], registers: [this.registry] });
  readonly diskFree = new Gauge({ name: 'basalt_chunk_disk_free_bytes', help: 'Free bytes on the data directory filesystem', registers: [this.registry] });
  readonly diskCapacity = new Gauge({ name: 'basalt_chunk_disk_capacity_bytes', help: 'Size of the data directory filesystem', registers: [this.registry] });
  readonly replicationInflight = new Gauge({ name: 'basalt_chunk_replication_inflight', help: 'Requests forwarded to secondaries and not yet answered', registers: [this.registry] });
  readonly replicationSeconds = new Histogram({
    name: 'basalt_chunk_replication_seconds',
    help: 'Time from forwarding a request to a secondary to its reply (replication lag)',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 10],
    registers: [this.registry],
  });
  readonly replicasDropped = new Counter({ name: 'basalt_chunk_replicas_dropped_total', help: 'Secondaries this primary had metad drop from a replica set', registers: [this.registry] });
  readonly degradedExtents = new Gauge({ name: 'basalt_chunk_degraded_extents', help: 'Extents this server leads whose replica set lost a member since this process started', registers: [this.registry] });
  readonly syncRounds = new Gauge({ name: 'basalt_chunk_sync_rounds', help: 'Group-commit rounds (each one fdatasync per dirty file)', registers: [this.registry] });
  readonly syncRequests = new Gauge({ name: 'basalt_chunk_sync_requests', help: 'Requests for durability (FLUSH, FUA) served by those rounds', registers: [this.registry] });
  readonly fileOps = new Gauge({ name: 'basalt_chunk_file_ops', help: 'Reads and writes of extent files, by where they ran: inline (on the event loop), pool (buffered, libuv thread pool), direct (members\' data writes with O_DIRECT, in the pool)', labelNames: ['mode'] as const, registers: [this.registry] });
  readonly directWritesNoSlab = new Gauge({ name: 'basalt_chunk_direct_writes_no_slab', help: 'Members\' large data writes written through the page cache because every aligned slab for direct writes was in use', registers: [this.registry] });
  readonly directWritesUnsupported = new Gauge({ name: 'basalt_chunk_direct_writes_unsupported', help: '1 when the data directory\'s filesystem refused O_DIRECT and members\' data writes went back to the page cache (chunkd --direct-writes members)', registers: [this.registry] });
  readonly slowInlineReads = new Gauge({ name: 'basalt_chunk_inline_reads_slow', help: 'Small reads tried on the event loop that went to the disk (reads then use the thread pool for a second)', registers: [this.registry] });
  readonly reclaimedReplicas = new Counter({ name: 'basalt_chunk_reclaimed_replicas_total', help: 'Replicas of deleted volumes removed from this server', registers: [this.registry] });
  readonly reclaimedBytes = new Counter({ name: 'basalt_chunk_reclaimed_bytes_total', help: 'Disk bytes given back by removing replicas of deleted volumes', registers: [this.registry] });
  readonly volumeStoredBytes = new Gauge({
    name: 'basalt_chunk_volume_stored_bytes',
    help: 'Disk bytes held by the replicas of each volume (allocated blocks of its extent files), by volume id; past limits.metricsVolumesMax volumes the rest are summed under volume_id="_other"',
    labelNames: ['volume_id'], registers: [this.registry],
  });
  private readonly volumeLabels = new VolumeLabels(limits.metricsVolumesMax);
  readonly healthy = new Gauge({ name: 'basalt_chunk_healthy', help: '1 while the store accepts I/O, 0 after a failed fdatasync', registers: [this.registry] });

  /** Replaces the per-volume stored bytes with `byVolumeId` (volumes no longer held disappear). */
  setVolumeStoredBytes(byVolumeId: ReadonlyMap<number, number>): void {
    const sums = new Map<string, number>();
    for (const [id, bytes] of byVolumeId) {
      const label = this.volumeLabels.of(String(id));
      sums.set(label, (sums.get(label) ?? 0) + bytes);
    }
    this.volumeStoredBytes.reset();
    for (const [label, bytes] of sums) this.volumeStoredBytes.set({ volume_id: label }, bytes);
  }
  readonly repairBytes = new Counter({
    name: 'basalt_chunk_repair_bytes_total',
    help: 'Bytes of extents this primary compared with a rebuilding member (what="compared") and copied to it (what="copied"), by kind: "catchup" (the member held a copy) or "rebuild" (it held nothing)',
    labelNames: ['kind', 'what'] as const,
    registers: [this.registry],
  });
  readonly repairCopies = new Gauge({ name: 'basalt_chunk_repair_copies', help: 'Copies to rebuilding members running on this primary', registers: [this.registry] });
  readonly repairBytesLeft = new Gauge({ name: 'basalt_chunk_repair_bytes_left', help: 'Bytes the running copies still have to send (from their last comparison)', registers: [this.registry] });
  readonly repairs = new Counter({ name: 'basalt_chunk_repairs_total', help: 'Copies ended, by result: promoted, aborted (the set moved on or this server failed; metad re-plans), failed (the member failed; reported)', labelNames: ['result'] as const, registers: [this.registry] });
  readonly scrubBytes = new Counter({ name: 'basalt_chunk_scrub_bytes_total', help: 'Bytes the scrubber re-read and checked', registers: [this.registry] });
  readonly scrubBlocks = new Counter({ name: 'basalt_chunk_scrub_blocks_total', help: 'Blocks the scrubber found bad or diverged, by result: repaired or unrepairable', labelNames: ['result'] as const, registers: [this.registry] });
  readonly scrubPasses = new Counter({ name: 'basalt_chunk_scrub_passes_total', help: 'Scrub passes over every extent held, completed', registers: [this.registry] });
  readonly scrubLastPass = new Gauge({ name: 'basalt_chunk_scrub_last_pass_timestamp_seconds', help: 'When the last scrub pass finished (Unix time; 0: none since start)', registers: [this.registry] });
}
