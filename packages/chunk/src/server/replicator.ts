import { BasaltError, ErrorCode, isBasaltError } from '@basalt/stdx';
import { DataFlag, type DataRequest, type Stamp } from '@basalt/wire';
import type { ReplicaMeta } from '../replica/replica-meta.js';
import type { ExtentStore } from '../store/extent-store.js';
import type { ExtentPlacement, MetaLink } from './meta-link.js';
import type { ChunkMetrics } from './metrics.js';
import { Peer } from './peer.js';

/**
 * The primary's side of primary-backup replication. forward() sends a request to every
 * secondary of the replica set current at the request's arrival, in parallel, and resolves once
 * each one applied it or was dropped from the set by metad (epoch bump). A secondary that
 * cannot apply (connection lost, timeout, full disk, I/O error) is dropped; one that refuses
 * because it knows a newer epoch or lease makes the request fail with that refusal.
 *
 * Seam for re-replication (a later issue): degraded() lists the extents this server led while
 * their sets shrank; a rebuilder would copy them to new members before metad adds them.
 */
const dropCodes = new Set<string>([ErrorCode.Unavailable, ErrorCode.Timeout, ErrorCode.Closed, ErrorCode.NoSpace, ErrorCode.Io, ErrorCode.Checksum]);

export class Replicator {
  private readonly peers = new Map<string, Peer>();
  private readonly drops = new Map<string, Promise<ExtentPlacement>>();
  private readonly degradedKeys = new Set<string>();

  constructor(
    private readonly selfId: string,
    private readonly store: ExtentStore,
    private readonly link: MetaLink | undefined,
    private readonly metrics: ChunkMetrics,
    private readonly timeoutMs: number,
    private readonly log: (line: string) => void,
  ) {}

  degraded(): string[] {
    return [...this.degradedKeys];
  }

  /**
   * Call synchronously on the request's arrival: the send order is the apply order. Every other
   * member gets the request, rebuilding ones too (they must not miss a write while they copy),
   * with the stamp this primary gave a mutation.
   */
  forward(meta: ReplicaMeta, req: DataRequest, stamp: Stamp | undefined): Promise<void> {
    // Literals, not spreads: on this per-write path a spread that overrides fields costs V8 a slow runtime call.
    const e = req.extent;
    const extent = { volumeId: e.volumeId, index: e.index, extentSizeBytes: e.extentSizeBytes, epoch: meta.epoch, generation: e.generation, replicas: meta.replicas };
    const fwd: DataRequest = { op: req.op, flags: req.flags | DataFlag.Forwarded, requestId: req.requestId, extent, offset: req.offset, length: req.length, crcs: req.crcs, payload: req.payload, stamp };
    const sends = meta.replicas.slice(1).map((r) => this.forwardTo(meta, r.serverId, this.peer(r.address).send(fwd)));
    return Promise.all(sends).then(() => undefined);
  }

  close(): void {
    for (const p of this.peers.values()) p.close();
  }

  private peer(address: string): Peer {
    let p = this.peers.get(address);
    if (p === undefined) {
      p = new Peer(address, this.timeoutMs);
      this.peers.set(address, p);
    }
    return p;
  }

  private async forwardTo(meta: ReplicaMeta, serverId: string, sent: Promise<unknown>): Promise<void> {
    const started = performance.now();
    this.metrics.replicationInflight.inc();
    try {
      await sent;
    } catch (err) {
      if (!isBasaltError(err) || !dropCodes.has(err.code)) throw err;
      await this.drop(meta, serverId, err);
    } finally {
      this.metrics.replicationInflight.dec();
      this.metrics.replicationSeconds.observe((performance.now() - started) / 1000);
    }
  }

  private async drop(meta: ReplicaMeta, serverId: string, cause: BasaltError): Promise<void> {
    const what = `secondary ${serverId} of extent ${meta.volumeId}/${meta.index} failed (${cause.message})`;
    const current = this.store.get(meta.volumeId, meta.index);
    if (current !== undefined && current.epoch > meta.epoch && !current.replicas.some((r) => r.serverId === serverId)) {
      // Already dropped (by an earlier failure of this or another request): the set moved on.
      await this.adopt(meta, current);
      return;
    }
    if (this.link === undefined) throw new BasaltError(ErrorCode.Unavailable, `${what} and this chunk server has no metad to drop it`, { serverId });
    const key = `${meta.volumeId}/${meta.index}/${serverId}/${meta.epoch}`;
    let pending = this.drops.get(key);
    if (pending === undefined) {
      this.log(`${what}: asking metad to drop it from the set at epoch ${meta.epoch}`);
      pending = this.link.dropReplica(meta.volumeId, meta.index, serverId, meta.epoch);
      this.drops.set(key, pending);
      void pending.then(
        (placement) => {
          this.metrics.replicasDropped.inc();
          this.log(`extent ${meta.volumeId}/${meta.index}: metad answered epoch ${placement.epoch}, replicas ${placement.replicas.map((r) => r.serverId).join(',') || 'none'}`);
        },
        (err: unknown) => this.log(`extent ${meta.volumeId}/${meta.index}: dropping ${serverId} failed: ${String(err)}`),
      ).finally(() => this.drops.delete(key));
    }
    const placement = await pending;
    await this.adopt(meta, placement);
    if (placement.replicas.some((r) => r.serverId === serverId)) throw new BasaltError(ErrorCode.Unavailable, `${what}; metad kept it in the set`, { serverId });
  }

  /** Takes the placement metad returned; fails the request if this server no longer leads. */
  private async adopt(meta: ReplicaMeta, placement: ExtentPlacement): Promise<void> {
    const current = this.store.get(meta.volumeId, meta.index) ?? meta;
    const leads = placement.replicas[0]?.serverId === this.selfId;
    if (placement.epoch > current.epoch) {
      const member = placement.replicas.some((r) => r.serverId === this.selfId);
      await this.store.setMeta({ ...current, epoch: placement.epoch, replicas: member ? placement.replicas : [], state: member ? 'active' : 'fenced' });
      this.degradedKeys.add(`${meta.volumeId}/${meta.index}`);
      this.metrics.degradedExtents.set(this.degradedKeys.size);
    }
    if (!leads) throw new BasaltError(ErrorCode.StaleEpoch, `this server no longer leads extent ${meta.volumeId}/${meta.index} at epoch ${placement.epoch}`);
  }
}
