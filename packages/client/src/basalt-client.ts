import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { BasaltError, ErrorCode, invalidArgument, limits } from '@basalt/stdx';
import { MetaClient, type pb } from '@basalt/wire';
import { ConnectionPool } from './connection-pool.js';
import type { ClientMetrics } from './client-metrics.js';
import { Volume, type VolumeDescriptor, type VolumeEvent } from './volume.js';

export interface ConnectOptions {
  /** host:port of one or more metad members. */
  metad: readonly string[];
  /** Names this client as a lease holder; default host/pid/random. */
  clientId?: string;
  /** Timeout of one data-plane request (ms). */
  requestTimeoutMs?: number;
  /** Total time one metadata call may take across retries (ms). */
  metaTimeoutMs?: number;
  /** Failovers and bad replicas the client worked around, for logs and metrics. */
  onEvent?: (event: VolumeEvent) => void;
  /** Per-volume op metrics (ClientMetrics); none are kept without it. */
  metrics?: ClientMetrics;
}

export interface OpenOptions {
  /** Take the volume's writer lease (default false: read-only). */
  writer?: boolean;
  /** With writer: take the lease even if another client holds it; that client is fenced. */
  force?: boolean;
}

export interface CreateVolumeOptions {
  sizeBytes: number;
  extentSizeBytes?: number;
  replicationFactor?: number;
}

/** Connects to a Basalt cluster. Nothing is sent until the first call. */
export function connect(options: ConnectOptions): BasaltClient {
  if (!Array.isArray(options.metad) || options.metad.length === 0) throw invalidArgument('connect() needs { metad: ["host:port", ...] } with at least one address');
  return new BasaltClient(options);
}

/** A connection to one cluster: volumes are created, listed and opened here. */
export class BasaltClient {
  readonly clientId: string;
  readonly meta: MetaClient;
  private readonly pool: ConnectionPool;
  private readonly onEvent: (event: VolumeEvent) => void;
  private readonly metrics: ClientMetrics | undefined;

  constructor(options: ConnectOptions) {
    this.clientId = options.clientId ?? `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
    if (this.clientId === '' || Buffer.byteLength(this.clientId) > limits.clientIdBytesMax) {
      throw invalidArgument(`clientId must be 1..${limits.clientIdBytesMax} bytes`);
    }
    this.meta = new MetaClient({ endpoints: options.metad, ...(options.metaTimeoutMs !== undefined && { callTimeoutMs: options.metaTimeoutMs }) });
    this.pool = new ConnectionPool(options.requestTimeoutMs ?? limits.clientRequestTimeoutMsDefault);
    this.onEvent = options.onEvent ?? (() => undefined);
    this.metrics = options.metrics;
  }

  async createVolume(name: string, options: CreateVolumeOptions): Promise<VolumeDescriptor> {
    const reply = await this.meta.call('createVolume', { name, ...options });
    return descriptor(reply.volume);
  }

  async listVolumes(): Promise<VolumeDescriptor[]> {
    return (await this.meta.listAllVolumes()).volumes.map(descriptor);
  }

  /** Opens a volume, read-only unless `writer`; a writer holds the volume's lease until close(). */
  async openVolume(name: string, options: OpenOptions = {}): Promise<Volume> {
    if (options.force === true && options.writer !== true) throw invalidArgument('force takes the writer lease: use it with { writer: true }');
    const volume = descriptor((await this.meta.call('getVolume', { name })).volume);
    let lease: { clientId: string; generation: number } | undefined;
    if (options.writer === true) {
      const reply = await this.meta.call('acquireLease', { volume: name, clientId: this.clientId, force: options.force === true });
      lease = { clientId: this.clientId, generation: Number(reply.generation) };
    }
    return new Volume(volume, { meta: this.meta, pool: this.pool, lease, onEvent: this.onEvent, metrics: this.metrics });
  }

  /** Closes connections. Close volumes first: their leases are not released here. */
  close(): void {
    this.pool.close();
    this.meta.close();
  }
}

function descriptor(v: pb.IVolume | null | undefined): VolumeDescriptor {
  if (v === null || v === undefined) throw new BasaltError(ErrorCode.Protocol, 'metad replied without a volume');
  return {
    id: Number(v.id ?? 0),
    name: v.name ?? '',
    sizeBytes: Number(v.sizeBytes ?? 0),
    extentSizeBytes: Number(v.extentSizeBytes ?? 0),
    replicationFactor: v.replicationFactor ?? 0,
  };
}
