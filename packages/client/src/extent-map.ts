import { BasaltError, ErrorCode, isBasaltError, limits } from '@basalt/stdx';
import { parseToken, type MetaClient, type ReplicaRef, type pb } from '@basalt/wire';
import { backoff } from './backoff.js';

/**
 * The fewest replicas a first write accepts once too few chunk servers are up for the whole
 * factor: a majority of it (2 of 3; Ceph's default min_size is the same), so one more failure
 * does not leave a new extent's only copy on one server.
 */
export function degradedMinReplicas(replicationFactor: number): number {
  return replicationFactor - Math.floor(replicationFactor / 2);
}

/** Where one allocated extent lives: its replica set, primary first, at an epoch. */
export interface ExtentInfo {
  readonly index: number;
  readonly epoch: number;
  /** Every member, primary first: requests name the whole set. */
  readonly replicas: readonly ReplicaRef[];
  /** The active members, primary first: reads go only to them (a rebuilding member serves none). */
  readonly readable: readonly ReplicaRef[];
  /** metad's signature over this epoch and set (docs/data-path.md, "Capabilities"); undefined when metad signs nothing. */
  readonly signedState: Buffer | undefined;
}

/**
 * The client's cache of a volume's extent map. Lookups fetch a page of extents at a time; an
 * entry is replaced when a chunk server reports a newer epoch. "Not allocated" is trusted for
 * good by the writer (only the lease holder allocates) and for clientAbsentExtentTtlMs by readers.
 */
export class ExtentMap {
  private readonly extents = new Map<number, ExtentInfo>();
  /** Page number -> when it was fetched (ms), or the fetch under way. */
  private readonly pages = new Map<number, number | Promise<void>>();
  /** Extent index -> the AllocateExtent call under way. */
  private readonly allocating = new Map<number, Promise<ExtentInfo>>();
  /** The last allocation got fewer replicas than the factor: the next ones need not wait for all. */
  private short = false;
  /** The newest capability metad gave with an extent map (it covers the whole volume). */
  private capability: Buffer | undefined;
  /** When the capability is due for renewal (client clock, ms): limits.clientCapabilityRenewAfterMs after it arrived. */
  private renewAtMs = 0;
  /** The renewal under way (maybeRenewCapability). */
  private renewing: Promise<void> | undefined;
  /** The tokens requests on an extent carry, built once per (extent info, capability). */
  private readonly auths = new WeakMap<ExtentInfo, { capability: Buffer | undefined; auth: readonly Buffer[] | undefined }>();

  constructor(
    private readonly meta: MetaClient,
    private readonly volume: string,
    private readonly writer: boolean,
    private readonly replicationFactor: number,
    /** Told once per extent this map allocated with fewer replicas than the factor. */
    private readonly placedDegraded: (info: ExtentInfo, waitedMs: number) => void,
  ) {}

  /**
   * The signed tokens requests on this extent present (ExtentRef.auth): the volume's capability
   * and the extent's signed state. A capability older than limits.clientCapabilityRenewAfterMs is
   * renewed in the background (this request still presents the old one, which is valid); a chunk
   * server that refuses an expired capability makes the caller refresh the extent, and with it the
   * capability.
   */
  auth(info: ExtentInfo): readonly Buffer[] | undefined {
    this.maybeRenewCapability(info.index);
    const known = this.auths.get(info);
    if (known !== undefined && known.capability === this.capability) return known.auth;
    const tokens = [this.capability, info.signedState].filter((t): t is Buffer => t !== undefined);
    const auth = tokens.length === 0 ? undefined : tokens;
    this.auths.set(info, { capability: this.capability, auth });
    return auth;
  }

  /** The extent's replica set if it is cached (what lookup returns without a metad call). */
  known(index: number): ExtentInfo | undefined {
    return this.extents.get(index);
  }

  /** The extent's replica set, or undefined when it is not allocated (reads as zeroes). */
  async lookup(index: number): Promise<ExtentInfo | undefined> {
    const known = this.extents.get(index);
    if (known !== undefined) return known;
    const page = Math.floor(index / limits.clientExtentMapPageExtents);
    const fetched = this.pages.get(page);
    if (fetched instanceof Promise) await fetched;
    else if (fetched === undefined || (!this.writer && Date.now() - fetched > limits.clientAbsentExtentTtlMs)) await this.fetchPage(page);
    return this.extents.get(index);
  }

  /**
   * Allocates the extent on first write (idempotent at metad, so MetaClient retries it after a
   * timeout); concurrent first writes share one call. While metad has too few chunk servers up it
   * asks again, with backoff, for up to limits.clientAllocateWaitMsMax: first for every replica
   * (a server marked down for a late heartbeat is back within seconds), and once the shortage
   * outlasts limits.clientAllocateFullWaitMs for degradedMinReplicas(factor) or more, placed
   * degraded on every server up. After a degraded allocation the next ones ask so at once, until
   * one gets the whole factor again.
   */
  allocate(index: number): Promise<ExtentInfo> {
    const pending = this.allocating.get(index);
    if (pending !== undefined) return pending;
    const call = this.allocateWaiting(index, Date.now()).finally(() => this.allocating.delete(index));
    this.allocating.set(index, call);
    return call;
  }

  /** Re-reads one extent from metad after a chunk server said our epoch is stale. */
  async refresh(index: number): Promise<ExtentInfo | undefined> {
    const reply = await this.meta.call('getExtentMap', { volume: this.volume, fromIndex: index, count: 1, writer: this.writer });
    this.takeCapability(reply);
    this.extents.delete(index);
    const extent = reply.extents.find((e) => e.index === index);
    return extent === undefined ? undefined : this.remember(extent);
  }

  /**
   * The set a chunk server's BASALT_STALE_EPOCH reply carried (metad's signed state of the
   * server's newer epoch), when it is a well-formed extent state of this extent newer than the
   * cached one: the caller re-sends with it and no metad call. The client does not check metad's
   * signature (it holds no key); the server it sends to does, so a forged or altered state only
   * gets the request refused (BASALT_UNAUTHENTICATED: the SDK then re-reads the map from metad).
   */
  adoptSignedState(volumeId: number, index: number, token: Buffer): ExtentInfo | undefined {
    const parsed = parseToken(token);
    if (parsed.kind !== 'ok' || parsed.claims.kind !== 'extent') return undefined;
    const { claims } = parsed;
    const known = this.extents.get(index);
    if (claims.volumeId !== volumeId || claims.index !== index || claims.replicas.length === 0 || (known !== undefined && claims.epoch <= known.epoch)) return undefined;
    const replicas = claims.replicas.map((r) => ({ serverId: r.serverId, address: r.address, rebuilding: r.rebuilding === true }));
    return this.remember({ index, epoch: claims.epoch, primary: replicas[0]!.serverId, replicas, signedState: token });
  }

  /**
   * Reports an unresponsive primary to metad (DropReplica with the reason and fail_over_volume);
   * metad's leader decides whether it leaves the set (docs/metadata.md, "Healing"), and fails over
   * the volume's other extents that server leads in the same decision: their new sets come back
   * in the reply and replace the cached ones, so the next writes there go to the new primaries
   * at once. Returns the set metad answers with, or the current one when someone already changed it.
   */
  async reportFailed(info: ExtentInfo, serverId: string, reason: 'unreachable' | 'timeout'): Promise<ExtentInfo | undefined> {
    try {
      const reply = await this.meta.call('dropReplica', { volume: this.volume, index: info.index, serverId, expectedEpoch: info.epoch, reason, failOverVolume: true });
      for (const e of reply.failedOver ?? []) this.remember(e);
      return this.remember(required(reply.extent, 'DropReplica'));
    } catch (err) {
      if (err instanceof BasaltError && err.code === ErrorCode.StaleEpoch) return this.refreshPage(info.index);
      throw err;
    }
  }

  /**
   * Re-reads the whole page of the extent map around `index` (one GetExtentMap call): after a
   * report metad refused because the set already moved on, the same failover (metad's planner
   * dropping a server marked out, another client's report) most likely moved the neighbours too.
   */
  private async refreshPage(index: number): Promise<ExtentInfo | undefined> {
    // The cached set stays until the page replaces it (remember keeps the newest epoch): a
    // concurrent re-read must not leave this caller, resuming after its own fetch, with no set.
    await this.fetchPage(Math.floor(index / limits.clientExtentMapPageExtents));
    return this.extents.get(index);
  }

  private async allocateWaiting(index: number, started: number): Promise<ExtentInfo> {
    for (let attempt = 1; ; attempt++) {
      const degraded = this.short || Date.now() - started >= limits.clientAllocateFullWaitMs;
      try {
        const minReplicas = degraded ? degradedMinReplicas(this.replicationFactor) : 0;
        const reply = await this.meta.call('allocateExtent', { volume: this.volume, index, minReplicas });
        const info = this.remember(required(reply.extent, 'AllocateExtent'));
        this.short = info.replicas.length < this.replicationFactor;
        if (this.short) this.placedDegraded(info, Date.now() - started);
        return info;
      } catch (err) {
        if (!isBasaltError(err, ErrorCode.NotEnoughServers) || Date.now() - started >= limits.clientAllocateWaitMsMax) throw err;
        await backoff(attempt);
      }
    }
  }

  private async fetchPage(page: number): Promise<void> {
    const fromIndex = page * limits.clientExtentMapPageExtents;
    const fetching = this.meta.call('getExtentMap', { volume: this.volume, fromIndex, count: limits.clientExtentMapPageExtents, writer: this.writer }).then(
      (reply) => {
        this.takeCapability(reply);
        for (const e of reply.extents) this.remember(e);
        this.pages.set(page, Date.now());
      },
      (err: unknown) => {
        this.pages.delete(page);
        throw err;
      },
    );
    this.pages.set(page, fetching);
    await fetching;
  }

  private takeCapability(reply: pb.IExtentMapReply): void {
    if (reply.capability == null || reply.capability.length === 0) return;
    this.capability = Buffer.from(reply.capability);
    this.renewAtMs = Date.now() + limits.clientCapabilityRenewAfterMs;
  }

  /**
   * Fetches one extent (and with it a new capability) when the capability is due; one fetch at a
   * time; after a failure, again limits.clientCapabilityRenewRetryMs later.
   */
  private maybeRenewCapability(index: number): void {
    if (this.capability === undefined || this.renewing !== undefined || Date.now() < this.renewAtMs) return;
    this.renewing = this.meta.call('getExtentMap', { volume: this.volume, fromIndex: index, count: 1, writer: this.writer }).then(
      (reply) => {
        this.takeCapability(reply);
        for (const e of reply.extents) this.remember(e);
      },
      // The old capability stays; a refusal after its expiry fetches again (refresh).
      () => {
        this.renewAtMs = Date.now() + limits.clientCapabilityRenewRetryMs;
      },
    ).finally(() => {
      this.renewing = undefined;
    });
  }

  private remember(e: pb.IExtent): ExtentInfo {
    // The rebuilding flag is part of the set a chunk server checks requests against (docs/data-path.md, Replication).
    const replicas: ReplicaRef[] = (e.replicas ?? []).map((r) => (r.rebuilding === true ? { serverId: r.serverId ?? '', address: r.address ?? '', rebuilding: true } : { serverId: r.serverId ?? '', address: r.address ?? '' }));
    const primary = replicas.findIndex((r) => r.serverId === e.primary);
    if (primary > 0) replicas.unshift(...replicas.splice(primary, 1));
    const signedState = e.signedState != null && e.signedState.length > 0 ? Buffer.from(e.signedState) : undefined;
    const info: ExtentInfo = { index: Number(e.index ?? 0), epoch: Number(e.epoch ?? 0), replicas, readable: replicas.filter((r) => r.rebuilding !== true), signedState };
    const known = this.extents.get(info.index);
    if (known === undefined || known.epoch <= info.epoch) this.extents.set(info.index, info);
    return this.extents.get(info.index)!;
  }
}

function required<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new BasaltError(ErrorCode.Protocol, `${what} reply has no extent`);
  return value;
}
