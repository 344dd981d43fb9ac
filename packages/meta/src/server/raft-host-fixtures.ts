import type { Snapshot, SnapshotMeta } from '@basalt/raft';
import { MiB } from '@basalt/stdx';
import { TransportSecurity } from '@basalt/wire';
import type { LogStore, LogUpdate, PersistedLog, SnapshotSink } from './log-store.js';
import { MemoryLogStore, type MemoryDisk } from './memory-log-store.js';
import { MetaMetrics } from './metrics.js';
import { RaftHost } from './raft-host.js';

/**
 * For tests of RaftHost: a MemoryLogStore that records every save and, at each snapshot commit,
 * the last entry index saved before it.
 */
export class RecordingStore implements LogStore {
  readonly saves: { update: LogUpdate; sync: boolean }[] = [];
  readonly commits: { meta: SnapshotMeta; lastSaved: number }[] = [];
  private lastSaved = 0;
  private readonly inner: MemoryLogStore;

  constructor(readonly disk: MemoryDisk) {
    this.inner = new MemoryLogStore(disk);
  }

  load(): Promise<PersistedLog> {
    return this.inner.load();
  }

  save(update: LogUpdate, sync: boolean): Promise<void> {
    this.saves.push({ update, sync });
    const end = update.entries[update.entries.length - 1];
    if (end !== undefined) this.lastSaved = end.index;
    return this.inner.save(update, sync);
  }

  beginSnapshot(): SnapshotSink {
    const sink = this.inner.beginSnapshot();
    return {
      append: (pieces) => sink.append(pieces),
      commit: (meta, head, compactIndex) => {
        this.commits.push({ meta, lastSaved: this.lastSaved });
        return sink.commit(meta, head, compactIndex);
      },
      abort: () => sink.abort(),
    };
  }

  readSnapshot(): Promise<Snapshot> {
    return this.inner.readSnapshot();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

export interface TestHostOptions {
  /** Member ids, this member ('m1') first; default: m1 alone. */
  peers?: readonly string[];
  tickMs: number;
  /** Default: never. */
  snapshotEntries?: number;
  log?: (line: string) => void;
}

/** Member m1 of a test cluster on `store` (its peers are never dialled unless it sends). */
export function openTestHost(store: LogStore, options: TestHostOptions): Promise<RaftHost> {
  const peers = options.peers ?? ['m1'];
  return RaftHost.open({
    id: 'm1', address: '127.0.0.1:1', cluster: 'test', store, peers: new Map(peers.map((id, i) => [id, `127.0.0.1:${i + 1}`])), join: false,
    tickMs: options.tickMs, electionTicks: 5, heartbeatTicks: 1, snapshotEntries: options.snapshotEntries ?? 1_000_000, snapshotBytes: 64 * MiB, snapshotKeepEntries: 1000,
    requestTimeoutMs: 10_000, metrics: new MetaMetrics(), log: options.log ?? (() => undefined), onRemoved: () => undefined, security: TransportSecurity.insecure(),
  });
}
