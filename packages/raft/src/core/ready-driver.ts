import type { MemoryStorage } from './memory-storage.js';
import type { HardState, Ready, UnsafeTestingKnobs } from './types.js';

/**
 * One step of handling a Ready. The caller performs the steps of a plan in order; between two
 * steps it may step, tick and propose on the node (but not take another Ready).
 * - `send`: hand `messages` to the transport.
 * - `write`: start writing `snapshot`, `entries` and `hardState` to the durable log, as one batch,
 *   synced when `sync`. Writes land on disk in the order they were started.
 * - `wait`: wait until the write just started is done (durable, when it was synced).
 * - `store`: make the Ready's snapshot, entries and hard state visible to the node through its
 *   Storage (`storeReady`).
 * - `apply`: restore the snapshot, apply `committedEntries` in order, hand out `readStates`.
 * - `advance`: `advance(rd)`; the node's next Ready may depend on it.
 */
export type ReadyStep =
  | { readonly kind: 'send' }
  | { readonly kind: 'write'; readonly sync: boolean }
  | { readonly kind: 'wait' }
  | { readonly kind: 'store' }
  | { readonly kind: 'apply' }
  | { readonly kind: 'advance' };

export type ReadyStepKind = ReadyStep['kind'];

/** What the plan depends on besides the Ready itself. */
export interface ReadyContext {
  /** The node is leader once this Ready's soft state is taken into account. */
  readonly leader: boolean;
  /** The hard state of the node's Storage: the last one written before this Ready. */
  readonly stored: HardState;
  /** Test-only: `ackBeforePersist` sends every Ready's messages before its write. */
  readonly knobs?: UnsafeTestingKnobs;
}

/**
 * The one order in which the metadata service and the simulation handle a Ready (etcd's
 * persist -> send -> apply -> advance, with two overlaps):
 * - A leader's messages (appends, heartbeats, read-index answers) leave before its own write
 *   (Raft thesis §10.2.1): they promise nothing about its disk, and the core counts the
 *   leader's own copy of an entry towards commit only after `advance`. Followers then persist
 *   in parallel with the leader. Not when the Ready installs a snapshot or changes the term or
 *   vote (that must be durable before anyone hears of it), and never for followers and
 *   candidates, whose acknowledgements and votes promise their disk.
 * - A Ready whose write only moves the commit index (no entries, no snapshot, no sync) is not
 *   waited for: it promises nothing (the commit index is re-learned after a restart), and the
 *   writes land in order, so applying need not wait for a disk round trip.
 * Everything else of a Ready waits for its write before its messages leave.
 */
export function planReady(rd: Ready, ctx: ReadyContext): readonly ReadyStep[] {
  const hasWrite = rd.snapshot !== undefined || rd.entries.length > 0 || rd.hardState !== undefined;
  const commitOnly = !rd.mustSync && rd.snapshot === undefined && rd.entries.length === 0;
  const persist: ReadyStep[] = [];
  if (hasWrite) persist.push({ kind: 'write', sync: rd.mustSync });
  if (hasWrite && !commitOnly) persist.push({ kind: 'wait' });
  persist.push({ kind: 'store' });
  const sendFirst = maySendBeforePersist(rd, ctx);
  const send: ReadyStep[] = rd.messages.length > 0 ? [{ kind: 'send' }] : [];
  return [...(sendFirst ? send : []), ...persist, ...(sendFirst ? [] : send), { kind: 'apply' }, { kind: 'advance' }];
}

function maySendBeforePersist(rd: Ready, ctx: ReadyContext): boolean {
  if (ctx.knobs?.ackBeforePersist === true) return true;
  if (!ctx.leader || rd.snapshot !== undefined) return false;
  if (rd.hardState === undefined) return true;
  return rd.hardState.term === ctx.stored.term && rd.hardState.vote === ctx.stored.vote;
}

/** The `store` step: the Ready's snapshot, then its entries (which may replace a suffix), then its hard state. */
export function storeReady(storage: MemoryStorage, rd: Ready): void {
  if (rd.snapshot !== undefined) storage.applySnapshot(rd.snapshot);
  storage.append(rd.entries);
  if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
}
