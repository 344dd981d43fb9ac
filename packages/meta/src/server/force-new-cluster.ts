import { decodeConfChange } from '@basalt/raft';
import type { Snapshot } from '@basalt/raft';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { raftpb } from '@basalt/wire';
import { MetaState, decodeCommand } from '../state/index.js';
import type { LogStore, PersistedLog } from './log-store.js';
import { MemberBook } from './members.js';

/**
 * Disaster recovery after losing a majority (etcd's --force-new-cluster): this member's log,
 * all of it (entries it holds may have been committed by the lost majority), is applied to the
 * state machine and replaced by one snapshot whose configuration is this member alone. It then
 * leads a one-member cluster; new members join with `basalt meta members add` and `--join`.
 * Writes acknowledged by the old cluster but never received by this member are lost.
 */
export async function forceNewCluster(store: LogStore, id: string, address: string, log: (line: string) => void): Promise<PersistedLog> {
  const loaded = await store.load();
  const last = loaded.entries.at(-1) ?? { index: loaded.snapshot.meta.index, term: loaded.snapshot.meta.term };
  if (last.index === 0) throw new BasaltError(ErrorCode.InvalidArgument, '--force-new-cluster needs the data dir of an existing member; this one is empty');
  const book = new MemberBook();
  let state = MetaState.empty();
  if (loaded.snapshot.meta.index > 0) {
    const data = raftpb.SnapshotData.decode(loaded.snapshot.data);
    book.loadPb(data.members);
    state = MetaState.decodeSnapshot(data.state);
  }
  for (const e of loaded.entries) {
    if (e.type === 'Normal' && e.data.length > 0) state.apply(decodeCommand(e.data));
  }
  for (const e of loaded.entries) {
    if (e.type !== 'ConfChange') continue;
    const cc = decodeConfChange(e.data);
    if (cc.context !== undefined) book.set(cc.nodeId, new TextDecoder().decode(cc.context));
  }
  book.set(id, address);
  const conf = { voters: [id], learners: [] };
  const snapshot: Snapshot = {
    meta: { index: last.index, term: last.term, conf },
    data: raftpb.SnapshotData.encode({ members: book.toPb(conf), state: state.encodeSnapshot() }).finish(),
  };
  const term = Math.max(loaded.hardState.term, last.term);
  await store.save({ snapshot, entries: [], hardState: { term, vote: '', commit: last.index } }, true);
  log(`raft: forced a new one-member cluster of ${id} from index ${last.index} (term ${last.term}); add members with --join`);
  return store.load();
}
