import { BasaltError, ErrorCode, isBasaltError } from '@basalt/stdx';
import { DataFlag, type DataRequest, type Stamp } from '@basalt/wire';
import type { ReplicaMeta } from '../replica/replica-meta.js';
import type { ExtentStore } from '../store/extent-store.js';
import type { Credentials } from './credentials.js';
import type { DropReason, ExtentPlacement, MetaLink } from './meta-link.js';
import type { ChunkMetrics } from './metrics.js';
import { Peer, tcpPeerConnect, type PeerConnect } from './peer.js';

/**
 * The primary's side of primary-backup replication. forward() sends a request to every other
 * member of the replica set current at the request's arrival (active and rebuilding alike), in
 * parallel, and resolves once each one applied it or was dropped from the set by metad (epoch
 * bump). A member that cannot apply (connection lost, timeout, full disk, I/O error) is reported
 * with DropReplica and a reason, and the request waits for metad's answer: a member that missed
 * a write is never left in the set (a rebuilding one would otherwise be promoted without it). A
 * member that refuses because it knows a newer epoch or lease makes the request fail with that
 * refusal. peer() is the ordered connection to a member, shared with the rebuild executor and
 * the scrubber so that their STAMPS and COPY order with forwarded writes.
 */
const dropReasons = new Map<string, DropReason>([
  [ErrorCode.Unavailable, 'unreachable'],
  [ErrorCode.Closed, 'unreachable'],
  [ErrorCode.Timeout, 'timeout'],
  [ErrorCode.NoSpace, 'no_space'],
  [ErrorCode.Io, 'io'],
  [ErrorCode.Checksum, 'checksum'],
]);

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
    private readonly connect: PeerConnect = tcpPeerConnect,
    /** Capabilities: the peer capability and signed states sent with every request to a member. */
    private readonly credentials?: Credentials,
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
    const auth = this.credentials?.peerAuth(e.volumeId, e.index, meta.epoch);
    const extent = { volumeId: e.volumeId, index: e.index, extentSizeBytes: e.extentSizeBytes, epoch: meta.epoch, generation: e.generation, replicas: meta.replicas, auth };
    const fwd: DataRequest = { op: req.op, flags: req.flags | DataFlag.Forwarded, requestId: req.requestId, extent, offset: req.offset, length: req.length, crcs: req.crcs, payload: req.payload, stamp, snapshot: req.snapshot };
    const sends = meta.replicas.slice(1).map((r) => this.forwardTo(meta, r.serverId, this.peer(r.address).send(fwd)));
    return Promise.all(sends).then(() => undefined);
  }

  close(): void {
    for (const p of this.peers.values()) p.close();
  }

  /** The ordered connection to the member at address (one per address, replaced when it dies). */
  peer(address: string): Peer {
    let p = this.peers.get(address);
    if (p === undefined) {
      p = new Peer(address, this.timeoutMs, this.connect, this.credentials);
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
      const reason = isBasaltError(err) ? dropReasons.get(err.code) : undefined;
      if (reason === undefined) throw err;
      await this.drop(meta, serverId, err as BasaltError, reason);
    } finally {
      this.metrics.replicationInflight.dec();
      this.metrics.replicationSeconds.observe((performance.now() - started) / 1000);
    }
  }

  private async drop(meta: ReplicaMeta, serverId: string, cause: BasaltError, reason: DropReason): Promise<void> {
    const rebuilding = meta.replicas.some((r) => r.serverId === serverId && r.rebuilding === true);
    const what = `${rebuilding ? 'rebuilding member' : 'secondary'} ${serverId} of extent ${meta.volumeId}/${meta.index} failed (${cause.message})`;
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
      this.log(`${what}: asking metad to drop it from the set at epoch ${meta.epoch} (reason ${reason})`);
      pending = this.link.dropReplica(meta.volumeId, meta.index, serverId, meta.epoch, reason);
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
