import { assert } from './assert.js';

/**
 * Every bound in Basalt, with units in the names. Relations between them are
 * asserted below, when the module loads.
 */
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

export const limits = {
  /** Extent size bounds and default; extents are powers of two. */
  extentSizeBytesMin: 1 * MiB,
  extentSizeBytesMax: 1 * GiB,
  extentSizeBytesDefault: 64 * MiB,
  /** Checksum granularity: one CRC32C per block. */
  checksumBlockBytes: 4 * KiB,
  /** Largest volume one metadata record may describe. */
  volumeSizeBytesMax: 2 ** 50,
  replicationFactorMax: 5,
  replicationFactorDefault: 3,
  volumeNameBytesMax: 128,
  /** Metadata state machine bounds (packages/meta/src/state). */
  volumesMax: 100_000,
  /** metad state: distinct extent member lists shared between extents (past it, lists are copies). */
  memberListsSharedMax: 1 << 20,
  /** Tenants a cluster holds (docs/security.md); the built-in `default` tenant is not counted. */
  tenantsMax: 1000,
  /** metad's audit log (leader-local): bytes of the current file; past it the file rotates, one previous file is kept. */
  auditLogFileBytesMax: 4 * MiB,
  /** Most audit entries one ListAudit reply carries (the newest ones after `since`). */
  auditReplyEntriesMax: 1000,
  /** Longest target text an audit entry keeps (a volume, tenant, server or member name). */
  auditTargetBytesMax: 256,
  /** Most volumes one ListVolumes page returns. */
  volumesPageMax: 1000,
  chunkServersMax: 1024,
  serverIdBytesMax: 64,
  zoneNameBytesMax: 64,
  serverAddressBytesMax: 255,
  clientIdBytesMax: 128,
  /** Tries of an encrypted volume's creation when another volume took the id its key was bound to. */
  clientCreateEncryptedAttemptsMax: 5,
  /**
   * Repair: rebuilding members the planner targets at one server at once, and copies one
   * primary (the source) runs at once. One name for both sides (metad's planner, chunkd's rebuild
   * executor); like Ceph's osd_max_backfills, it bounds what recovery takes from any one disk.
   */
  repairCopiesPerServerMax: 2,
  /** Repair: commands metad's leader proposes per planner round (about one round a second). */
  repairActionsPerRoundMax: 64,
  /**
   * metad leader: drops one client report of a silent primary turns into (DropReplica with
   * fail_over_volume: every extent of the volume that server leads), proposed together; a larger
   * volume's other extents follow with the client's next reports.
   */
  repairFailoverPerReportMax: 64,
  /** Repair: tasks per ListRepairTasks reply. */
  repairTasksPerReplyMax: 64,
  /**
   * metad leader: a heartbeat's free space is written to the replicated state only when it
   * differs from the recorded one by more than this (placement reads it; heartbeats are not
   * Raft proposals).
   */
  metaFreeBytesReportDeltaBytes: 256 * MiB,
  /** metad: how long a server is down before it is marked out and its replicas rebuilt elsewhere (like Ceph's mon_osd_down_out_interval). */
  metaDownOutIntervalMsDefault: 10 * 60_000,
  /** Client SDK: attempts of one extent operation across epoch changes and failovers. */
  clientIoAttemptsMax: 12,
  /** Client SDK: extents fetched per extent-map lookup. */
  clientExtentMapPageExtents: 1024,
  /** Client SDK, read-only opens: how long "this extent is not allocated" is trusted. */
  clientAbsentExtentTtlMs: 1_000,
  /**
   * Client SDK: how long a first write keeps asking metad to allocate its extent while too few
   * chunk servers are up (BASALT_NOT_ENOUGH_SERVERS). A server marked down for a late heartbeat
   * (a loaded machine, a metad leader change) is up again at its next heartbeat.
   */
  clientAllocateWaitMsMax: 30_000,
  /**
   * Client SDK: how long a first write waits for every replica of the factor before it accepts a
   * degraded placement (a majority of the factor, on every server up). Long enough for a server
   * marked down for a late heartbeat to be back (heartbeats every 2 s); short enough that the
   * write, with metad's 5 s to mark a dead server down, ends well within the 30 s I/O timeout
   * NBD clients are commonly given.
   */
  clientAllocateFullWaitMs: 10_000,
  /**
   * Client SDK: a write that continues the previous one and ends this close to its extent's end
   * (at most half an extent) asks metad for the next extent in the background
   * (packages/client/src/allocate-ahead.ts).
   */
  clientAllocateAheadBytes: 16 * MiB,
  /** Client SDK: one data-plane request's timeout. */
  clientRequestTimeoutMsDefault: 15_000,
  /** Client SDK: how long one metad member may take to answer Status before it is shown as unreachable. */
  clientMemberStatusTimeoutMs: 3_000,
  /**
   * Data connections (SDK and primary -> secondary): a server that sent nothing for this long
   * while requests wait on it gets a ping...
   */
  dataProbeAfterMs: 2_000,
  /**
   * ...and if it still sends nothing this long after the ping, the connection fails with
   * BASALT_UNAVAILABLE (its requests fail over at once instead of waiting for their timeouts).
   */
  dataProbeTimeoutMs: 5_000,
  labelsPerVolumeMax: 32,
  labelKeyBytesMax: 64,
  labelValueBytesMax: 256,
  /** An encrypted volume's wrapped data key as metad stores it (the file provider's takes 92). */
  wrappedKeyBytesMax: 512,
  /** The id of the key-encryption key that wrapped a volume's data key. */
  keyIdBytesMax: 128,
  /** Most extents one extent-map query returns. */
  extentMapCountMax: 4096,
  /** metad API and server (packages/wire/src/meta, packages/meta/src/server). */
  metaEndpointsMax: 16,
  metaAttemptTimeoutMsDefault: 5_000,
  metaCallTimeoutMsDefault: 30_000,
  /**
   * CLI: how long a command waits for a TCP connection to a metad member of a local cluster whose
   * processes are all gone (cluster.json) before it says the cluster is not running, instead of
   * spending the whole call deadline on it.
   */
  cliLocalClusterProbeMs: 1_000,
  metaBackoffMsMax: 1_000,
  metaReplyBytesMax: 64 * MiB,
  /** Largest state machine snapshot metad writes or accepts. */
  metaSnapshotBytesMax: 64 * MiB,
  /**
   * Volumes a snapshot encodes between two turns of metad's event loop: the leader keeps
   * ticking and sending heartbeats while it snapshots a large state (docs/metadata.md).
   */
  metaSnapshotSliceVolumes: 2_000,
  /** Bytes of snapshot pieces metad writes to its log store in one LevelDB batch. */
  metaSnapshotWriteBytes: 1 * MiB,
  /** grpc-js receive limit of the Raft transport: a snapshot travels in one message. */
  raftTransportMessageBytesMax: 64 * MiB + 1 * MiB,
  /** Messages queued for one peer while its stream's buffer is full; beyond, the oldest are dropped. */
  raftTransportQueueMax: 4096,
  /** A Raft connection asks the peer to acknowledge a batch at most this often (and every snapshot). */
  raftTransportAckIntervalMs: 1_000,
  /**
   * Reconnect probes after a connection to a peer that had acknowledged batches fails (see the
   * Raft transport): a probe that connects and is then reset (the peer's process is still closing
   * its port) is retried, at most this many times in all, this far apart, until one is refused.
   */
  raftTransportProbesMax: 5,
  raftTransportProbeIntervalMs: 10,
  /** Client requests waiting in one metad for commit or a read index. */
  metaPendingRequestsMax: 10_000,
  metaMembersMax: 9,
  memberIdBytesMax: 64,
  /** Largest payload of one data-plane frame. */
  dataFrameBytesMax: 32 * MiB + 64 * KiB,
  /** Largest single read or write request on the data plane. */
  ioRequestBytesMax: 32 * MiB,
  /** Bytes of requests in flight on one data-plane connection. */
  connectionInflightBytesMax: 64 * MiB,
  /**
   * The buffer a data-plane client connection reads into between frames (wire/data/frame-reads.ts);
   * a frame that spans reads is read into its own buffer instead.
   */
  connectionReadStagingBytes: 64 * KiB,
  /**
   * Unsent bytes the SDK and the NBD agent hand one TLS socket at a time (more wait as references
   * until its writes complete; a larger message goes alone). TLS copies each write it is handed
   * and encrypts it into a second buffer outside V8's heap (wire/data/socket-batch.ts).
   */
  tlsWriteAheadBytesMax: 1 * MiB,
  /**
   * A message part at least this large (a WRITE's payload) goes to a TLS socket as a write of its
   * own: TLSWrap copies a writev of several buffers into one before encrypting it, and encrypts a
   * lone buffer in place (wire/data/socket-batch.ts). Smaller parts share the cork's writev.
   */
  tlsSoloWriteBytesMin: 256 * KiB,
  /** Raft: proposals and appends. */
  raftInflightAppendsMax: 256,
  raftMaxEntriesBytesPerAppend: 1 * MiB,
  raftUncommittedBytesMax: 64 * MiB,
  raftEntryBytesMax: 1 * MiB,
  /** Raft: ReadIndex requests a leader queues while waiting for heartbeat acks. */
  raftPendingReadsMax: 4096,
  /** Raft: bytes of committed entries handed to the application in one Ready. */
  raftCommittedBytesPerReadyMax: 16 * MiB,
  /** NBD agent: largest READ/WRITE payload (advertised as the maximum block size). */
  nbdRequestBytesMax: 32 * MiB,
  /** NBD agent: bytes of READ/WRITE requests in flight on one connection before it stops reading. */
  nbdConnectionInflightBytesMax: 64 * MiB,
  /**
   * NBD agent: bytes of writes acknowledged from the write-back cache and not yet stored, over all
   * volumes. With TLS sockets bounded (`tlsWriteAheadBytesMax`) each cached byte costs about 1.1 in
   * the process: a secure write-back agent peaked at 118-124 MiB with 8 MiB, 148-149 MiB with 32 MiB,
   * and 8 MiB loses no write throughput (bench/RESULTS.md, "agent memory"; docs/nbd.md, "Memory").
   */
  agentWriteCacheBytesMax: 8 * MiB,
  /** NBD agent: writes acknowledged from the write-back cache and not yet stored, over all volumes. */
  agentWriteCacheWritesMax: 512,
  /** NBD agent: largest option payload in the handshake; larger ones end the connection. */
  nbdOptionBytesMax: 64 * KiB,
  /** NBD agent: options one connection may send before it is dropped as abusive. */
  nbdHandshakeOptionsMax: 1024,
  /** NBD agent: time a client has to finish the handshake. */
  nbdHandshakeTimeoutMs: 30_000,
  /** NBD agent: descriptors in one BLOCK_STATUS reply. */
  nbdBlockStatusExtentsMax: 4096,
  /** chunkd: time a primary waits for a secondary before it asks metad to drop it. */
  chunkReplicaTimeoutMs: 10_000,
  /** chunkd: time a primary waits for metad to drop a replica before failing the write. */
  chunkDropReplicaTimeoutMs: 30_000,
  /** chunkd: zeroed ranges at least this long are hole-punched instead of written. */
  chunkPunchHoleBytesMin: 1 * MiB,
  /**
   * chunkd: how often it asks metad which volumes were deleted; a deleted volume's replicas go
   * once two passes in a row found it deleted, so within two intervals (reclaim.ts).
   */
  chunkReclaimIntervalMs: 60_000,
  /** chunkd: heartbeat interval to metad unless metad asks for another. */
  chunkHeartbeatIntervalMs: 2_000,
  /** chunkd: how often the bytes on disk of each volume are counted again (a stat per extent file) for heartbeats. */
  chunkVolumeUsageIntervalMs: 10_000,
  /**
   * chunkd: one heartbeat's time at one metad member before it is sent to another (heartbeats
   * are safe to repeat). Well under metad's down-after period (5 s by default), so that after a
   * leader change the heartbeat reaches the new leader before it marks the server down.
   */
  chunkHeartbeatAttemptTimeoutMs: 1_500,
  /** chunkd: one heartbeat's time in all, attempts included. */
  chunkHeartbeatCallTimeoutMs: 5_000,
  /** chunkd: free space kept back from extent data (at most this, at most 1/32 of the disk), for the index and restarts. */
  chunkDiskReserveBytesMax: 256 * MiB,
  /** chunkd: data-plane connections one server accepts. */
  chunkConnectionsMax: 1024,
  /** chunkd: memory for in-memory copies of block metadata, checksum sidecars and stamp tables (1/256 of the extent data they describe). */
  chunkSidecarCacheBytesMax: 64 * MiB,
  /** chunkd: reads and writes of extent files up to this size may run on the event loop (chunk/src/store/inline-io.ts). */
  chunkInlineIoBytesMax: 64 * KiB,
  /** chunkd: a member's data write (forwarded by the primary, or a copy) of at least this many bytes goes to disk with O_DIRECT (chunk/src/store/direct-writer.ts); the first size past chunkInlineIoBytesMax, so direct writes run in the thread pool as buffered ones of that size already do. */
  chunkDirectWriteBytesMin: 68 * KiB,
  /** chunkd: one page-aligned slab of a direct write (larger writes go in slab-sized pieces). */
  chunkDirectSlabBytes: 1 * MiB,
  /** chunkd: page-aligned memory for direct writes (a WebAssembly.Memory, in RSS once touched); a direct write finding every slab in use is written buffered. */
  chunkDirectSlabsBytesMax: 32 * MiB,
  /** chunkd: highest seq of a block stamp (u32); a primary past it refuses mutations until the epoch changes (BASALT_LIMIT_EXCEEDED). */
  stampSeqMax: 0xffffffff,
  /** Snapshots one volume may hold at a time (each is a stamp per allocated extent and a copy-on-write file per extent it diverged on). */
  snapshotsPerVolumeMax: 1024,
  /** Snapshots asked of a volume's lease holder and not yet taken, at once (docs/snapshots.md, "Requests to the lease holder"). */
  snapshotRequestsPerVolumeMax: 16,
  /** SDK: a writer asks metad this often whether someone asked it for a snapshot or a background flatten. */
  clientHolderRequestPollMs: 2_000,
  /** SDK: how long createSnapshot waits for the lease holder to take a snapshot it asked for (BASALT_HOLDER_TIMEOUT after). */
  clientHolderRequestWaitMsDefault: 30_000,
  /** SDK: createSnapshot's attempts when the lease changes hands between taking it and asking its holder. */
  clientHolderRequestAttemptsMax: 3,
  /** SDK: how often a caller waiting for the holder reads the request's state. */
  clientHolderRequestCheckMs: 250,
  /** Bytes of a snapshot name. */
  snapshotNameBytesMax: 128,
  /** Blocks a SNAP_DIFF request may cover (its reply lists changed block numbers, 4 bytes each). */
  snapshotDiffBlocksMax: 16_384,
  /** chunkd: seqs a primary reserves durably at once per extent (one synced index put per this many mutations; a restart skips the unused rest). */
  chunkStampSeqReserve: 65_536,
  /** chunkd: bytes one verify or settle pass reads at once (the data of a STAMPS with VERIFY is read in pieces of this size). */
  chunkVerifyReadBytes: 1 * MiB,
  /** chunkd: recycled frame buffers kept for reuse (wire/data/frame-pool.ts). */
  chunkFramePoolBytesMax: 64 * MiB,
  /** chunkd: reads of at least this many bytes land in recycled buffers (smaller ones would waste most of a pooled buffer). */
  chunkPooledReadBytesMin: 64 * KiB,
  /** agent: recycled buffers kept for reuse, shared by read replies (the SDK assembles large reads in them) and WRITE payloads (wire/data/frame-pool.ts): a 1 MiB read or write takes 1 MiB + 8 KiB, so this covers 15 in flight. */
  agentFramePoolBytesMax: 16 * MiB,
  /** agent: V8's young generation of the volume thread (--volume-thread on; 3 semi-spaces, so 1 MiB each, as the main thread's). Larger, payloads moved in from the main thread pile up as external memory until full collections (35-58 per 5 s of 1 MiB reads). */
  agentVolumeThreadYoungGenerationMiB: 3,
  /** Volumes with their own series in one process's per-volume metrics; the rest are summed under volume="_other". */
  metricsVolumesMax: 64,
  /** How often the web console samples the per-volume metrics it charts, and how many samples it keeps. */
  consoleSampleIntervalMs: 5_000,
  consoleSamplesMax: 60,
  /** How often a console page polls for fresh tables while open. */
  consoleRefreshMs: 1_000,
  /** Deadline of one call the console makes to a member or an agent. */
  consoleCallTimeoutMs: 1_000,
  /** chunkd: one COPY request carries at most this many bytes (a run of blocks of one extent). */
  repairCopyRunBytesMax: 1 * MiB,
  /** chunkd: COPY requests of one extent's rebuild in flight at once. */
  repairCopyRunsInflightMax: 4,
  /**
   * chunkd: while a primary has repair tasks, it asks metad for them again this often (besides
   * after every heartbeat and when a copy ends), so a member metad adds after a promotion starts
   * copying within this time and not at the next heartbeat (chunkHeartbeatIntervalMs).
   */
  repairTaskPollMs: 250,
  /**
   * chunkd: compare-and-copy rounds of one rebuild before it gives up (metad re-plans). The first
   * copies what differs, the second normally finds nothing left: both stamp lists are taken at
   * one point of the write stream, so a block differs then only if a copy or a write was lost.
   */
  repairCompareRoundsMax: 3,
  /** chunkd: default budget of repair and scrub bytes per second (--repair-bandwidth; 0 = unlimited). */
  repairBandwidthBytesPerSecDefault: 16 * MiB,
  /** chunkd: bytes the repair budget grants at once after a quiet spell. */
  repairBurstBytes: 4 * MiB,
  /** chunkd: default time from the start of one scrub pass to the start of the next (--scrub-interval-ms). */
  scrubIntervalMsDefault: 24 * 60 * 60 * 1000,
  /** chunkd: default cap on the scrubber's own bytes per second, within the repair budget (--scrub-rate). */
  scrubRateBytesPerSecDefault: 16 * MiB,
  /** chunkd: the scrubber checks one extent this many bytes at a time (one range-lock hold per piece). */
  scrubReadBytes: 1 * MiB,
  /** chunkd: the first scrub pass after start begins after min(the interval, this). */
  scrubFirstPassDelayMsMax: 10 * 60 * 1000,
  /** Transport security: certificate serials metad's deny list holds at most (revoked certificates). */
  revokedSerialsMax: 10_000,
  /** How often a client (SDK, agent) fetches metad's deny list; a revoked chunk server is refused within this. */
  revocationRefreshMs: 5_000,
  /**
   * Capabilities (docs/data-path.md, "Capabilities"): how long one that metad signs is valid. The
   * SDK gets a new one with every extent-map fetch, renews it after clientCapabilityRenewAfterMs,
   * and fetches again when a chunk server says its capability expired; a chunk server gets its peer capability again with every heartbeat.
   */
  capabilityTtlMs: 10 * 60 * 1000,
  /**
   * SDK: a capability this old (by the client's clock since it arrived) is renewed in the
   * background with the next request that presents it, so a busy volume does not meet the expiry.
   */
  clientCapabilityRenewAfterMs: 5 * 60 * 1000,
  /** SDK: after a failed renewal, the wait before the next one (the old capability serves meanwhile). */
  clientCapabilityRenewRetryMs: 5_000,
  /** How far a chunk server's wall clock may be behind or ahead of metad's: an expired capability is honoured this much longer. */
  capabilityClockSkewMs: 30_000,
  /** Largest signed token (capability or extent state) a request or an AUTH frame may carry. */
  capabilityTokenBytesMax: 4 * KiB,
  /** chunkd: verified grants (client capabilities, extent states) kept per connection; the oldest go first. */
  chunkGrantsPerConnectionMax: 4_096,
  /** chunkd: signed extent states kept per server (the newest per extent), to forward with writes. */
  chunkSignedStatesMax: 65_536,
  /** chunkd: metad public keys a server accepts at once (the current one and those it rotated from). */
  capabilityKeysMax: 4,
  /** metad: signed extent states kept (the most recently signed), so an unchanged extent is not signed again per map fetch. */
  metaSignedStatesCachedMax: 65_536,
} as const;

assert(limits.extentSizeBytesMin <= limits.extentSizeBytesDefault, 'default extent below minimum');
assert(limits.extentSizeBytesDefault <= limits.extentSizeBytesMax, 'default extent above maximum');
assert(limits.extentSizeBytesMin % limits.checksumBlockBytes === 0, 'extent not a multiple of checksum blocks');
assert(limits.ioRequestBytesMax < limits.dataFrameBytesMax, 'a request must fit in one frame with its header');
assert(limits.dataFrameBytesMax <= limits.connectionInflightBytesMax, 'one frame must fit in the in-flight budget');
assert(limits.nbdRequestBytesMax <= limits.nbdConnectionInflightBytesMax, 'one NBD request must fit in the in-flight budget');
assert(limits.raftEntryBytesMax <= limits.raftUncommittedBytesMax, 'one entry must fit in the uncommitted budget');
assert(limits.raftMaxEntriesBytesPerAppend <= limits.raftCommittedBytesPerReadyMax, 'one append must fit in one Ready');
assert(limits.clientAllocateFullWaitMs < limits.clientAllocateWaitMsMax, 'a first write must have time left to allocate degraded');
assert(limits.clientAllocateAheadBytes <= limits.extentSizeBytesDefault / 2, 'allocation ahead starts in the second half of a default extent');
assert(limits.metaSnapshotBytesMax < limits.raftTransportMessageBytesMax, 'a snapshot must fit in one Raft transport message');
assert(limits.metaAttemptTimeoutMsDefault <= limits.metaCallTimeoutMsDefault, 'one attempt must fit in a call');
assert(limits.cliLocalClusterProbeMs < limits.metaAttemptTimeoutMsDefault, 'telling a stopped local cluster must be quicker than one call attempt');
assert(limits.capabilityClockSkewMs < limits.capabilityTtlMs, 'a capability outlives the clock skew it allows');
assert(limits.clientCapabilityRenewAfterMs + limits.capabilityClockSkewMs < limits.capabilityTtlMs, 'a capability is renewed before a chunk server whose clock runs ahead refuses it');
assert(limits.dataProbeAfterMs + limits.dataProbeTimeoutMs < limits.chunkReplicaTimeoutMs, 'a silent secondary is found by its probe before its requests time out');
assert(limits.clientExtentMapPageExtents <= limits.extentMapCountMax, 'an extent-map page must fit in one GetExtentMap reply');
assert(limits.auditReplyEntriesMax * 4 * limits.auditTargetBytesMax < limits.metaReplyBytesMax, 'a full ListAudit reply must fit in one Meta reply');
assert(limits.replicationFactorDefault <= limits.replicationFactorMax, 'default replication factor above maximum');
assert(limits.volumeSizeBytesMax % limits.extentSizeBytesMax === 0, 'the largest volume must be whole extents of every size');
assert(limits.consoleCallTimeoutMs < limits.consoleSampleIntervalMs, 'a console sample must end before the next begins');
assert(limits.consoleCallTimeoutMs <= limits.consoleRefreshMs, 'a console page poll must not outlast its interval');
assert(limits.repairCopyRunBytesMax % limits.checksumBlockBytes === 0, 'a copy run is whole blocks');
assert(limits.repairCopyRunBytesMax <= limits.ioRequestBytesMax, 'a copy run must fit in one request');
assert(limits.repairCopyRunBytesMax <= limits.repairBurstBytes, 'one copy run must fit in the repair burst');
assert(limits.snapshotRequestsPerVolumeMax <= limits.snapshotsPerVolumeMax, 'a requested snapshot counts as one of the volume\'s snapshots');
assert(limits.clientHolderRequestCheckMs < limits.clientHolderRequestPollMs, 'a waiting caller reads the request more often than the holder looks for it');
assert(2 * limits.clientHolderRequestPollMs < limits.clientHolderRequestWaitMsDefault, 'a holder sees a request well before its asker gives up');
assert(limits.scrubReadBytes % limits.checksumBlockBytes === 0, 'a scrub piece is whole blocks');
assert(limits.chunkDirectWriteBytesMin > limits.chunkInlineIoBytesMax, 'direct writes are only ones that already run in the thread pool');
assert(limits.chunkDirectWriteBytesMin % limits.checksumBlockBytes === 0 && limits.chunkDirectSlabBytes % 65536 === 0, 'direct writes are whole blocks from whole WebAssembly pages');
assert(limits.chunkDirectSlabsBytesMax % limits.chunkDirectSlabBytes === 0, 'the direct-write memory is whole slabs');
assert(limits.chunkStampSeqReserve < limits.stampSeqMax, 'a seq reservation must fit in an epoch');
assert(limits.extentSizeBytesMin % limits.chunkVerifyReadBytes === 0, 'an extent is whole verify pieces');
assert(limits.extentSizeBytesMin % limits.scrubReadBytes === 0, 'an extent is whole scrub pieces');

/** True for 1, 2, 4, ... up to 2^52 (safe for sizes beyond 32 bits). */
export function isPowerOfTwo(n: number): boolean {
  if (!Number.isSafeInteger(n) || n <= 0) return false;
  while (n > 1) {
    if (n % 2 !== 0) return false;
    n /= 2;
  }
  return true;
}
