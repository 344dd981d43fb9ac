import { isBasaltError, limits, type Clock } from '@basalt/stdx';
import {
  ChunkMetrics,
  ChunkService,
  Credentials,
  fenceDroppedReplicas,
  Heartbeat,
  MemoryDisk,
  MemoryExtentStore,
  RebuildExecutor,
  RepairBudget,
  Replicator,
  Scrubber,
  TokenBucket,
  type ChunkUnsafeTestingKnobs,
  type Grants,
  type ServerReport,
} from '@basalt/chunk/parts';
import type { DataRequest, DataResponse } from '@basalt/wire';
import type { SimNetwork } from './network.js';
import { SimMetaLink, type SimMetad } from './sim-metad.js';

/**
 * One chunk server, assembled as chunkd.ts assembles it, from the production classes: the
 * MemoryExtentStore over a MemoryDisk that outlives the process, ChunkService (admission,
 * stamps, forwarding), Replicator and Peer (over SimConnection instead of TCP), fenceDroppedReplicas
 * at start, Heartbeat, RebuildExecutor (polled after each heartbeat) and Scrubber with their
 * RepairBudget and TokenBuckets, all on the simulator's clock and timers. What chunkd does and
 * this does not: the DataServer's socket handling (SimConnection decodes frames and calls
 * ChunkService.handle), the reclaimer, HTTP metrics.
 */
export interface SimServerOptions {
  readonly replicaTimeoutMs: number;
  readonly metaTimeoutMs: number;
  readonly scrubIntervalMs: number;
  readonly capacityBytes: number;
  readonly knobs: ChunkUnsafeTestingKnobs;
}

export class SimChunkServer {
  readonly disk = new MemoryDisk();
  private stopAll: (() => void) | undefined;
  store: MemoryExtentStore | undefined;
  /** Requests ChunkService.handle rejected with something other than a BasaltError: bugs. */
  readonly bugs: string[] = [];
  /**
   * Every request this server answered, with the epoch it held for the extent when it admitted
   * the request (admission is synchronous on arrival): the checkers read it.
   */
  readonly onServed: ((serverId: string, req: DataRequest, res: DataResponse, admittedAtEpoch: number) => void)[] = [];

  constructor(
    readonly id: string,
    readonly address: string,
    readonly zone: string,
    private readonly net: SimNetwork,
    private readonly metad: SimMetad,
    private readonly clock: Clock,
    private readonly opts: SimServerOptions,
  ) {}

  get running(): boolean {
    return this.store !== undefined;
  }

  start(): void {
    const inc = this.net.start(this.id);
    const timers = this.net.timersOf(this.id, inc);
    const log = (line: string): void => this.net.sched.note(`${this.id}: ${line}`);
    const store = MemoryExtentStore.open(this.disk);
    this.store = store;
    const metrics = new ChunkMetrics();
    // As chunkd with --require-capabilities: nothing is served before metad's key is known.
    const credentials = new Credentials(true);
    const link = new SimMetaLink(this.net, this.metad, this.id, inc, this.opts.metaTimeoutMs, credentials);
    const connect = (address: string, timeoutMs: number): ReturnType<SimNetwork['connect']> => this.net.connect(this.id, inc, serverIdOf(address), address, timeoutMs);
    const replicator = new Replicator(this.id, store, link, metrics, this.opts.replicaTimeoutMs, log, connect, credentials);
    const service = new ChunkService(this.id, store, replicator, metrics, this.opts.knobs, { credentials, nowMs: () => this.clock.nowMs() });
    const budget = new RepairBudget(this.clock, timers);
    const repairBucket = new TokenBucket(limits.repairBandwidthBytesPerSecDefault, limits.repairBurstBytes, this.clock.nowMs());
    const peer = (address: string): ReturnType<Replicator['peer']> => replicator.peer(address);
    const executor = new RebuildExecutor({ selfId: this.id, store, link, peer, budget, bucket: repairBucket, metrics, clock: this.clock, timers, log, knobs: this.opts.knobs });
    const scrubBucket = new TokenBucket(limits.scrubRateBytesPerSecDefault, limits.repairBurstBytes, this.clock.nowMs());
    const scrubber = new Scrubber({ selfId: this.id, store, peer, budget, buckets: [scrubBucket, repairBucket], metrics, clock: this.clock, wallMs: () => this.clock.nowMs(), intervalMs: this.opts.scrubIntervalMs, log });
    const report = (): ServerReport => ({ id: this.id, address: this.address, zone: this.zone, capacityBytes: this.opts.capacityBytes, freeBytes: this.opts.capacityBytes, repair: executor.progress(), scrub: scrubber.facts() });
    let beat: Heartbeat | undefined;
    // As chunkd's close, minus the waiting: the loops stop first, then the budget ends their waits.
    this.stopAll = () => {
      beat?.stop();
      void scrubber.stop();
      void executor.close();
      budget.close();
    };
    const serve = (req: DataRequest, grants: Grants): Promise<DataResponse> => {
      const admittedAtEpoch = Math.max(req.extent.epoch, store.get(req.extent.volumeId, req.extent.index)?.epoch ?? 0);
      return service.handle(req, grants).then(
        (res) => {
          for (const f of this.onServed) f(this.id, req, res, admittedAtEpoch);
          return res;
        },
        (err: unknown) => {
          if (!isBasaltError(err)) this.bugs.push(`ChunkService.handle threw ${String(err)}`);
          throw err;
        },
      );
    };
    // As chunkd: fence what moved on while this server was away (serving anyway if metad cannot be asked), then serve.
    void fenceDroppedReplicas(this.id, store, link)
      .catch(() => 0)
      .then(() =>
        this.net.runOn(this.id, inc, () => {
          this.net.node(this.id).serve = serve;
          scrubber.start();
          beat = new Heartbeat(link, report, () => store.failed === undefined, log, () => void executor.poll(), timers);
        }),
      );
  }

  /** The process dies; with 'power', writes since the last sync are lost (MemoryDisk.crash). */
  crash(kind: 'process' | 'power', keep?: Parameters<MemoryDisk['crash']>[1]): void {
    this.stopAll?.();
    this.stopAll = undefined;
    this.store = undefined;
    this.net.crash(this.id);
    this.disk.crash(kind, keep);
  }
}

/** Addresses are "<server id>:7000" in the simulation. */
export function serverIdOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':'));
}
