import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { VolumeLabels, limits } from '@basalt/stdx';
import type { WriteCacheBudget } from '../write-cache.js';

/**
 * Prometheus metrics of the NBD agent. Per-volume series live as long as the agent; per-connection
 * series (label `connection`, an id unique within the process) are removed when the connection ends.
 * The `volume` label takes at most limits.metricsVolumesMax values; later volumes are summed
 * under volume="_other" (VolumeLabels).
 */

const latencyBuckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type OpName = 'read' | 'write' | 'flush' | 'trim' | 'cache' | 'write_zeroes' | 'block_status' | 'invalid';

type Inc = { inc: (value?: number) => void };
type Observe = { observe: (value: number) => void };

/** One (connection, volume, op)'s series of the successful-op metrics, looked up once. */
type OpSeries = { ops: Inc; connOps: Inc; bytes: Inc; connBytes: Inc; latency: Observe; connLatency: Observe };

/**
 * The op metrics of one connection: `record` is AgentMetrics.recordOp with the connection and
 * volume fixed, and the label sets of successful ops resolved once per op name instead of
 * building label objects on every request. Error replies (rare) take recordOp's path.
 */
export class ConnectionOpMetrics {
  private readonly series = new Map<OpName, OpSeries>();

  constructor(
    private readonly metrics: AgentMetrics,
    private readonly connection: string,
    private readonly volume: string,
  ) {}

  record(op: OpName, bytes: number, seconds: number, errno: number): void {
    if (errno !== 0) {
      this.metrics.recordOp(this.connection, this.volume, op, bytes, seconds, errno);
      return;
    }
    const s = this.series.get(op) ?? this.resolve(op);
    s.ops.inc();
    s.connOps.inc();
    s.latency.observe(seconds);
    s.connLatency.observe(seconds);
    if (bytes > 0) {
      s.bytes.inc(bytes);
      s.connBytes.inc(bytes);
    }
  }

  private resolve(op: OpName): OpSeries {
    const s = this.metrics.opSeries(this.connection, this.volume, op);
    this.series.set(op, s);
    return s;
  }
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly ops = new Counter({ name: 'basalt_nbd_ops_total', help: 'NBD requests completed, by volume and operation', labelNames: ['volume', 'op'], registers: [this.registry] });
  private readonly bytes = new Counter({ name: 'basalt_nbd_bytes_total', help: 'Bytes read or written through NBD', labelNames: ['volume', 'op'], registers: [this.registry] });
  private readonly latency = new Histogram({ name: 'basalt_nbd_op_duration_seconds', help: 'NBD request latency from parse to reply', labelNames: ['volume', 'op'], buckets: latencyBuckets, registers: [this.registry] });
  private readonly errors = new Counter({ name: 'basalt_nbd_errors_total', help: 'NBD requests answered with an error, by NBD error code', labelNames: ['volume', 'op', 'errno'], registers: [this.registry] });
  private readonly connOps = new Counter({ name: 'basalt_nbd_connection_ops_total', help: 'NBD requests completed on one connection', labelNames: ['connection', 'volume', 'op'], registers: [this.registry] });
  private readonly connBytes = new Counter({ name: 'basalt_nbd_connection_bytes_total', help: 'Bytes moved on one connection', labelNames: ['connection', 'volume', 'op'], registers: [this.registry] });
  private readonly connLatency = new Histogram({ name: 'basalt_nbd_connection_op_duration_seconds', help: 'NBD request latency on one connection', labelNames: ['connection', 'volume', 'op'], buckets: latencyBuckets, registers: [this.registry] });
  private readonly connErrors = new Counter({ name: 'basalt_nbd_connection_errors_total', help: 'Error replies on one connection', labelNames: ['connection', 'volume', 'op', 'errno'], registers: [this.registry] });
  private readonly connections = new Gauge({ name: 'basalt_nbd_connections', help: 'Open NBD connections in the transmission phase, by volume', labelNames: ['volume'], registers: [this.registry] });
  private cacheBudget: WriteCacheBudget | undefined;
  private readonly cacheBytes: Gauge = new Gauge({ name: 'basalt_nbd_write_cache_bytes', help: 'Bytes of acknowledged writes in the write-back cache, not yet stored', registers: [this.registry], collect: () => this.cacheBytes.set(this.cacheBudget?.bytes ?? 0) });
  private readonly cacheWrites: Gauge = new Gauge({ name: 'basalt_nbd_write_cache_writes', help: 'Acknowledged writes in the write-back cache, not yet stored', registers: [this.registry], collect: () => this.cacheWrites.set(this.cacheBudget?.writes ?? 0) });
  private readonly cacheFailures = new Counter({ name: 'basalt_nbd_write_cache_failures_total', help: 'Writes acknowledged from the write-back cache that could not be stored (later FLUSHes fail)', labelNames: ['volume'], registers: [this.registry] });
  private readonly handshakes = new Counter({ name: 'basalt_nbd_handshakes_total', help: 'Finished handshakes by outcome', labelNames: ['outcome'], registers: [this.registry] });

  private readonly volumeLabels = new VolumeLabels(limits.metricsVolumesMax);
  /** Label sets each connection has used, so its series can be removed when it closes. */
  private readonly connLabels = new Map<string, Map<string, { op: OpName; volume: string; errno?: string }>>();

  constructor(options: { defaultMetrics: boolean }) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  recordOp(connection: string, volumeName: string, op: OpName, bytes: number, seconds: number, errno: number): void {
    const volume = this.volumeLabels.of(volumeName);
    this.remember(connection, { volume, op, ...(errno !== 0 ? { errno: String(errno) } : {}) });
    this.ops.inc({ volume, op });
    this.connOps.inc({ connection, volume, op });
    this.latency.observe({ volume, op }, seconds);
    this.connLatency.observe({ connection, volume, op }, seconds);
    if (errno !== 0) {
      this.errors.inc({ volume, op, errno: String(errno) });
      this.connErrors.inc({ connection, volume, op, errno: String(errno) });
    } else if (bytes > 0) {
      this.bytes.inc({ volume, op }, bytes);
      this.connBytes.inc({ connection, volume, op }, bytes);
    }
  }

  /** The op metrics of one connection (see ConnectionOpMetrics). */
  forConnection(connection: string, volume: string): ConnectionOpMetrics {
    return new ConnectionOpMetrics(this, connection, this.volumeLabels.of(volume));
  }

  /** Handles on the series of successful `op`s of one connection (remembered for connectionClosed). */
  opSeries(connection: string, volumeName: string, op: OpName): OpSeries {
    const volume = this.volumeLabels.of(volumeName);
    this.remember(connection, { volume, op });
    const labels = { volume, op };
    const connLabels = { connection, volume, op };
    return {
      ops: this.ops.labels(labels), connOps: this.connOps.labels(connLabels),
      bytes: this.bytes.labels(labels), connBytes: this.connBytes.labels(connLabels),
      latency: this.latency.labels(labels), connLatency: this.connLatency.labels(connLabels),
    };
  }

  /** Exports the write-back cache's fill (read at each scrape). */
  watchWriteCache(budget: WriteCacheBudget): void {
    this.cacheBudget = budget;
  }

  writeCacheFailed(volume: string): void {
    this.cacheFailures.inc({ volume: this.volumeLabels.of(volume) });
  }

  handshake(outcome: 'transmission' | 'abort' | 'refused' | 'failed'): void {
    this.handshakes.inc({ outcome });
  }

  connectionOpened(volume: string): void {
    this.connections.inc({ volume: this.volumeLabels.of(volume) });
  }

  /** Drops the per-connection series of a closed connection. */
  connectionClosed(connection: string, volume: string): void {
    this.connections.dec({ volume: this.volumeLabels.of(volume) });
    for (const l of this.connLabels.get(connection)?.values() ?? []) {
      const labels = { connection, volume: l.volume, op: l.op };
      if (l.errno !== undefined) this.connErrors.remove({ ...labels, errno: l.errno });
      else for (const metric of [this.connOps, this.connBytes, this.connLatency]) metric.remove(labels);
    }
    this.connLabels.delete(connection);
  }

  private remember(connection: string, l: { op: OpName; volume: string; errno?: string }): void {
    let set = this.connLabels.get(connection);
    if (set === undefined) {
      set = new Map();
      this.connLabels.set(connection, set);
    }
    set.set(`${l.volume}\0${l.op}\0${l.errno ?? ''}`, l);
    if (l.errno !== undefined) set.set(`${l.volume}\0${l.op}\0`, { volume: l.volume, op: l.op });
  }
}
