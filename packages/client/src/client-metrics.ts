import { Counter, Histogram, Registry } from 'prom-client';
import { isBasaltError, limits, VolumeLabels } from '@basalt/stdx';

export type ClientOpName = 'read' | 'write' | 'flush' | 'trim' | 'write_zeroes';

/**
 * What happened to one mutation at its extent's primary (one request of at most
 * limits.ioRequestBytesMax), the most costly first: 'failover' (the primary did not answer and was
 * reported to metad), 'stale_epoch' (a chunk server refused the request's epoch or primary and the
 * set was re-read), 'set_changed' (the primary changed the set while serving it: re-read before
 * the acknowledgement), 'resent' (sent again to the same primary: a first timeout, a checksum
 * damaged in transit), 'plain' (answered at the first attempt).
 */
export type MutationPath = 'failover' | 'stale_epoch' | 'set_changed' | 'resent' | 'plain';

const pathRank: Readonly<Record<MutationPath, number>> = { plain: 0, resent: 1, set_changed: 2, stale_epoch: 3, failover: 4 };

/** The more costly of two paths: a mutation is counted under the worst thing that happened to it. */
export function worsePath(a: MutationPath, b: MutationPath): MutationPath {
  return pathRank[a] >= pathRank[b] ? a : b;
}

/** Finer around the tens of milliseconds a retry costs, to tell the causes of a tail apart. */
const pathBuckets = [0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096];

const latencyBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Per-volume Prometheus metrics of the SDK: ops, bytes and latency by volume and op, and failed
 * ops by error code. Pass one to connect({ metrics }) and serve `registry` where the application
 * serves its metrics. The `volume` label takes at most limits.metricsVolumesMax values per
 * ClientMetrics; later volumes are summed under volume="_other".
 */
export class ClientMetrics {
  readonly registry: Registry;
  private readonly ops: Counter;
  private readonly bytes: Counter;
  private readonly latency: Histogram;
  private readonly errors: Counter;
  private readonly paths: Histogram;
  private readonly flushFallbacks: Counter;
  private readonly volumes = new VolumeLabels(limits.metricsVolumesMax);

  /** Registers in `registry` (default: a new one of its own). */
  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.ops = new Counter({ name: 'basalt_client_ops_total', help: 'Volume operations completed, by volume and operation', labelNames: ['volume', 'op'], registers });
    this.bytes = new Counter({ name: 'basalt_client_bytes_total', help: 'Bytes read or written, by volume and operation', labelNames: ['volume', 'op'], registers });
    this.latency = new Histogram({ name: 'basalt_client_op_duration_seconds', help: 'Latency of volume operations from call to result', labelNames: ['volume', 'op'], buckets: latencyBuckets, registers });
    this.errors = new Counter({ name: 'basalt_client_errors_total', help: 'Volume operations that failed, by error code', labelNames: ['volume', 'op', 'code'], registers });
    this.paths = new Histogram({
      name: 'basalt_client_mutation_duration_seconds',
      help: 'Latency of one mutation request (write, trim, write-zeroes, flush of one extent) from first send to acknowledgement, by what happened to it (path: plain, resent, set_changed, stale_epoch, failover)',
      labelNames: ['volume', 'path'],
      buckets: pathBuckets,
      registers,
    });
    this.flushFallbacks = new Counter({
      name: 'basalt_client_flush_fallbacks_total',
      help: 'Flushes of one extent whose LOCAL flush to every member did not succeed everywhere and that went through the primary instead, by reason (an error code, epoch: a member answered at another epoch or held no replica, wait: a member did not answer in time)',
      labelNames: ['volume', 'reason'],
      registers,
    });
  }

  /** The flush of one extent of `volume` fell back from its members to the primary, because of `reason`. */
  recordFlushFallback(volume: string, reason: string): void {
    this.flushFallbacks.inc({ volume: this.volumes.of(volume), reason });
  }

  /** One mutation request of `volume` was acknowledged after `seconds`, by the way described by `path`. */
  recordMutation(volume: string, path: MutationPath, seconds: number): void {
    this.paths.observe({ volume: this.volumes.of(volume), path }, seconds);
  }

  /** One op of `volume` finished: `bytes` moved (0 for flush) in `seconds`, or failed with `error`. */
  record(volume: string, op: ClientOpName, bytes: number, seconds: number, error?: unknown): void {
    const labels = { volume: this.volumes.of(volume), op };
    if (error !== undefined) {
      this.errors.inc({ ...labels, code: isBasaltError(error) ? error.code : 'UNKNOWN' });
      return;
    }
    this.ops.inc(labels);
    this.latency.observe(labels, seconds);
    if (bytes > 0 && (op === 'read' || op === 'write')) this.bytes.inc(labels, bytes);
  }
}
