import type { ExtentStore } from '../store/extent-store.js';
import type { MetaLink } from './meta-link.js';

/**
 * Run at startup, before serving: asks metad for the current placement of every active extent
 * replica this server holds and fences those whose set moved on without it (e.g. it was dropped
 * while it was down); those whose set moved on with it (e.g. re-added as a rebuilding member
 * while it was down) take the new epoch and set, so requests at the old epoch are refused and,
 * as a rebuilding member, it serves no reads. Without this a returning server would serve stale
 * data to a client that still holds an old map. Returns the number fenced; throws if metad
 * cannot be asked.
 */
export async function fenceDroppedReplicas(selfId: string, store: ExtentStore, link: MetaLink): Promise<number> {
  let fenced = 0;
  for (const meta of store.list()) {
    if (meta.state !== 'active') continue;
    const now = await link.placement(meta.volumeId, meta.index);
    const member = now?.replicas.some((r) => r.serverId === selfId) ?? false;
    if (now === undefined || now.epoch <= meta.epoch) continue;
    if (member) {
      await store.setMeta({ ...meta, epoch: now.epoch, replicas: now.replicas, state: 'active' });
      continue;
    }
    await store.setMeta({ ...meta, epoch: now.epoch, replicas: [], state: 'fenced' });
    fenced++;
  }
  return fenced;
}
