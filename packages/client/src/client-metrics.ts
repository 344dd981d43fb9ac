import { Counter, Histogram, Registry } from 'prom-client';
import { isBasaltError, limits, VolumeLabels } from '@basalt/stdx';

export type ClientOpName = 'read' | 'write' | 'flush' | 'trim' | 'write_zeroes';

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
  private readonly volumes = new VolumeLabels(limits.metricsVolumesMax);

  /** Registers in `registry` (default: a new one of its own). */
  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.ops = new Counter({ name: 'basalt_client_ops_total', help: 'Volume operations completed, by volume and operation', labelNames: ['volume', 'op'], registers });
    this.bytes = new Counter({ name: 'basalt_client_bytes_total', help: 'Bytes read or written, by volume and operation', labelNames: ['volume', 'op'], registers });
    this.latency = new Histogram({ name: 'basalt_client_op_duration_seconds', help: 'Latency of volume operations from call to result', labelNames: ['volume', 'op'], buckets: latencyBuckets, registers });
    this.errors = new Counter({ name: 'basalt_client_errors_total', help: 'Volume operations that failed, by error code', labelNames: ['volume', 'op', 'code'], registers });
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
