import { ErrorCode, isBasaltError } from '@basalt/stdx';
import type { ReplicaMeta } from '../replica/replica-meta.js';
import type { ExtentStore } from '../store/extent-store.js';
import type { MetaLink, VolumeCensus } from './meta-link.js';
import type { ChunkMetrics } from './metrics.js';

/**
 * Gives back the disk space of deleted volumes. metad forgets a volume when it is deleted; its
 * replicas stay on the chunk servers until each server's reclaimer finds the volume gone and
 * removes them (ExtentStore.removeVolume).
 *
 * A storage system must never delete live data, so a volume's replicas go only when
 * (deletedVolumes):
 * - metad, in a linearizable read, lists no volume with its id, and has issued that id (it is
 *   below metad's next volume id; ids are never reused). A metad that lost its state, or a new
 *   cluster, has issued fewer ids and deletes nothing;
 * - every server named in the replicas' recorded sets is registered at that metad, at the
 *   recorded address (a chunk server pointed at another cluster by mistake finds strangers
 *   there; a server that moved since only keeps the space longer);
 * - and both held at two passes in a row, at least one interval apart.
 * Fenced replicas of live volumes stay: while their extent is degraded a stale copy is a last
 * resort, and re-replication (a later issue) is what makes them spare.
 */
export function deletedVolumes(local: readonly ReplicaMeta[], census: VolumeCensus): Set<number> {
  const suspects = new Set<number>();
  const vetoed = new Set<number>();
  for (const meta of local) {
    const id = meta.volumeId;
    if (census.liveVolumeIds.has(id) || id >= census.nextVolumeId) continue;
    suspects.add(id);
    if (meta.replicas.some((r) => census.servers.get(r.serverId) !== r.address)) vetoed.add(id);
  }
  for (const id of vetoed) suspects.delete(id);
  return suspects;
}

/**
 * Snapshot marks this server holds that metad no longer lists (deleted while this server was
 * down or away, so it missed the SNAPSHOT_DELETE), as `volume/index/id`. A mark taken after
 * metad was asked is not listed there either: the reclaimer drops a mark only when two passes in
 * a row, an interval apart, find it missing (a snapshot's record exists before any mark of it).
 */
export function staleMarks(local: readonly ReplicaMeta[], liveIds: ReadonlyMap<number, ReadonlySet<number>>): Set<string> {
  const stale = new Set<string>();
  for (const meta of local) {
    const live = liveIds.get(meta.volumeId);
    if (live === undefined) continue;
    for (const m of meta.snapshots ?? []) if (!live.has(m.id)) stale.add(`${meta.volumeId}/${meta.index}/${m.id}`);
  }
  return stale;
}

export class Reclaimer {
  /** Volumes found deleted by the last pass: removed if the next pass finds them deleted too. */
  private seen = new Set<number>();
  /** Snapshot marks found stale by the last pass (staleMarks). */
  private staleSeen = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly store: ExtentStore,
    private readonly link: MetaLink,
    private readonly metrics: ChunkMetrics,
    private readonly intervalMs: number,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pass: asks metad, removes the volumes found deleted in this pass and the one before. */
  async pass(): Promise<void> {
    if (this.store.list().length === 0) {
      this.seen.clear();
      return;
    }
    const census = await this.link.census();
    const deleted = deletedVolumes(this.store.list(), census);
    await this.reclaimMarks(census.volumeNames);
    for (const volumeId of deleted) {
      if (!this.seen.has(volumeId) || this.stopped) continue;
      const { replicas, bytes } = await this.store.removeVolume(volumeId);
      this.metrics.reclaimedReplicas.inc(replicas);
      this.metrics.reclaimedBytes.inc(bytes);
      this.log(`reclaimed ${replicas} replica(s), ${bytes} bytes on disk, of volume id ${volumeId}: metad deleted it`);
    }
    this.seen = deleted;
  }

  /** Drops snapshot marks (and their layers) metad deleted, found stale in two passes in a row. */
  private async reclaimMarks(names: ReadonlyMap<number, string>): Promise<void> {
    const local = this.store.list().filter((m) => (m.snapshots?.length ?? 0) > 0 && names.has(m.volumeId));
    const live = new Map<number, ReadonlySet<number>>();
    for (const volumeId of new Set(local.map((m) => m.volumeId))) live.set(volumeId, await this.link.snapshotIds(names.get(volumeId)!));
    const stale = staleMarks(local, live);
    for (const key of stale) {
      if (!this.staleSeen.has(key) || this.stopped) continue;
      const [volumeId, index, id] = key.split('/').map(Number) as [number, number, number];
      await this.store.deleteSnapshot(volumeId, index, id).catch((err: unknown) => {
        if (!isBasaltError(err, ErrorCode.SnapshotNotFound)) throw err;
      });
      stale.delete(key);
      this.log(`dropped snapshot ${id} of extent ${volumeId}/${index}: metad deleted it while this server missed the delete`);
    }
    this.staleSeen = stale;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass()
        .catch((err: unknown) => this.log(`reclaiming deleted volumes failed (next try in ${this.intervalMs} ms): ${String(err)}`))
        .finally(() => {
          this.running = undefined;
          this.schedule();
        });
    }, this.intervalMs);
    this.timer.unref();
  }
}
