import fs from 'node:fs';
import { invalidArgument, limits, monotonicClock, realTimers } from '@basalt/stdx';
import { FramePool, insecureWarning, parseHostPort, reloadOnSighup, serveMetrics, TransportSecurity } from '@basalt/wire';
import { RebuildExecutor } from './repair/rebuild-executor.js';
import { RepairBudget } from './repair/repair-budget.js';
import { Scrubber } from './repair/scrubber.js';
import { TokenBucket } from '@basalt/stdx';
import { ChunkService } from './server/chunk-service.js';
import { Credentials } from './server/credentials.js';
import { DataServer } from './server/data-server.js';
import { Heartbeat } from './server/heartbeat.js';
import { MetadLink, type MetaLink, type ServerReport } from './server/meta-link.js';
import { securePeerConnect, type Peer } from './server/peer.js';
import { ChunkMetrics } from './server/metrics.js';
import { Reclaimer } from './server/reclaim.js';
import { fenceDroppedReplicas } from './server/reconcile.js';
import { Replicator } from './server/replicator.js';
import type { ExtentStore } from './store/extent-store.js';
import { FileExtentStore } from './store/file-extent-store.js';

/**
 * The chunkd process: an extent store, the data-plane listener, replication, registration and
 * heartbeats with metad, and Prometheus metrics on HTTP /metrics.
 */
export interface ChunkdOptions {
  readonly id: string;
  readonly zone: string;
  readonly dataDir: string;
  /** host:port of the data plane; port 0 picks a free one. */
  readonly listen: string;
  /** Address other processes use to reach this server; defaults to the bound listen address. */
  readonly advertise?: string;
  /** metad endpoints (host:port); none means no registration and no replica drops. */
  readonly metad?: readonly string[];
  /** In-process tests: this link in place of one to `metad`. */
  readonly link?: MetaLink;
  /** Port of the HTTP /metrics listener (on the listen host); undefined means none, 0 a free one. */
  readonly metricsPort?: number;
  /** Serve /metrics over HTTPS to holders of a cluster certificate (needs the TLS files). */
  readonly metricsTls?: boolean;
  readonly replicaTimeoutMs?: number;
  /** How often to look for replicas of deleted volumes (reclaim.ts); default limits.chunkReclaimIntervalMs, 0 never. */
  readonly reclaimIntervalMs?: number;
  /** Repair and scrub bytes per second (token bucket; foreground I/O never waits on it); default limits.repairBandwidthBytesPerSecDefault, 0 unlimited. */
  readonly repairBandwidthBytesPerSec?: number;
  /** Start of one scrub pass to the start of the next; default limits.scrubIntervalMsDefault, 0 never. */
  readonly scrubIntervalMs?: number;
  /** The scrubber's own bytes per second, within the repair bandwidth; default limits.scrubRateBytesPerSecDefault, 0 only the repair bandwidth. */
  readonly scrubRateBytesPerSec?: number;
  /** Every listener and connection of this server (default: insecure). */
  readonly security?: TransportSecurity;
  /**
   * Refuse every request until metad's capability key is known (docs/data-path.md,
   * "Capabilities"); without it capabilities are enforced once a metad that signs answered.
   */
  readonly requireCapabilities?: boolean;
  /** Members' large data writes with O_DIRECT ('members') or through the page cache ('off', the default); docs/data-path.md, "Direct writes on members". */
  readonly directWrites?: 'members' | 'off';
  readonly log?: (line: string) => void;
}

export interface Chunkd {
  readonly id: string;
  /** host:port of the data plane. */
  readonly address: string;
  /** host:port of /metrics, if enabled. */
  readonly metricsAddress: string | undefined;
  readonly store: FileExtentStore;
  readonly metrics: ChunkMetrics;
  /** Undefined when scrubbing is off (scrubIntervalMs 0). */
  readonly scrubber: Scrubber | undefined;
  close(): Promise<void>;
}

export async function startChunkd(opts: ChunkdOptions): Promise<Chunkd> {
  validate(opts);
  const log = opts.log ?? (() => undefined);
  const security = opts.security ?? TransportSecurity.insecure();
  if (!security.secure) log(insecureWarning);
  // One pool for write frames and large reads: a read's buffer goes back once its reply is sent.
  const framePool = new FramePool(limits.chunkFramePoolBytesMax);
  const store = await FileExtentStore.open(opts.dataDir, { readPool: framePool, directWrites: opts.directWrites ?? 'off', log });
  const metrics = new ChunkMetrics();
  const credentials = new Credentials(opts.requireCapabilities === true);
  const link: MetaLink | undefined = opts.link ?? (opts.metad !== undefined && opts.metad.length > 0 ? new MetadLink(opts.metad, security, credentials) : undefined);
  const replicator = new Replicator(opts.id, store, link, metrics, opts.replicaTimeoutMs ?? limits.chunkReplicaTimeoutMs, log, securePeerConnect(security), credentials);
  if (link !== undefined) await fenceAtStartup(opts.id, store, link, log);
  const service = new ChunkService(opts.id, store, replicator, metrics, {}, { credentials, nowMs: () => Date.now() });
  const server = new DataServer(service, metrics, security, framePool);
  const { host, port } = parseListen(opts.listen);
  const bound = await server.listen(host, port);
  const address = opts.advertise ?? `${bound.host}:${bound.port}`;
  const refresh = metricsRefresher(store, metrics, opts.dataDir);
  const served = opts.metricsPort === undefined ? undefined : await serveMetrics(metrics.registry, { host, port: opts.metricsPort, security, tls: opts.metricsTls === true, beforeScrape: refresh });
  const http$ = served === undefined ? undefined : { address: `${served.address.address}:${served.address.port}`, close: () => new Promise<void>((r) => served.server.close(() => r())) };
  const budget = new RepairBudget(monotonicClock);
  const repairBucket = new TokenBucket(opts.repairBandwidthBytesPerSec ?? limits.repairBandwidthBytesPerSecDefault, limits.repairBurstBytes, monotonicClock.nowMs());
  const peer = (peerAddress: string): Peer => replicator.peer(peerAddress);
  const executor = link === undefined ? undefined : new RebuildExecutor({ selfId: opts.id, store, link, peer, budget, bucket: repairBucket, metrics, clock: monotonicClock, timers: realTimers, log });
  const scrubIntervalMs = opts.scrubIntervalMs ?? limits.scrubIntervalMsDefault;
  const scrubBucket = new TokenBucket(opts.scrubRateBytesPerSec ?? limits.scrubRateBytesPerSecDefault, limits.repairBurstBytes, monotonicClock.nowMs());
  const scrubber =
    scrubIntervalMs === 0
      ? undefined
      : new Scrubber({ selfId: opts.id, store, peer, budget, buckets: [scrubBucket, repairBucket], metrics, clock: monotonicClock, wallMs: () => Date.now(), intervalMs: scrubIntervalMs, log });
  scrubber?.start();
  const usage = volumeUsage(opts.dataDir);
  const report = (): ServerReport => ({
    id: opts.id,
    address,
    zone: opts.zone,
    ...diskSpace(opts.dataDir),
    volumeStoredBytes: usage(),
    ...(executor === undefined ? {} : { repair: executor.progress() }),
    ...(scrubber === undefined ? {} : { scrub: scrubber.facts() }),
  });
  // Repair tasks are asked for after each heartbeat: metad plans them about once a second.
  const beat = link === undefined ? undefined : new Heartbeat(link, report, () => store.failed === undefined, log, () => void executor?.poll());
  const reclaimIntervalMs = opts.reclaimIntervalMs ?? limits.chunkReclaimIntervalMs;
  const reclaimer = link === undefined || reclaimIntervalMs === 0 ? undefined : new Reclaimer(store, link, metrics, reclaimIntervalMs, log);
  reclaimer?.start();
  const stopReloading = reloadOnSighup(security, log);
  log(`chunkd ${opts.id} serving ${address} (${security.secure ? 'mutual TLS' : 'INSECURE'}, zone ${opts.zone}, data ${opts.dataDir})${http$ === undefined ? '' : `, metrics ${opts.metricsTls === true ? 'https' : 'http'}://${http$.address}/metrics`}`);
  let closing: Promise<void> | undefined;
  return {
    id: opts.id,
    address,
    metricsAddress: http$?.address,
    store,
    metrics,
    scrubber,
    close: () =>
      (closing ??= (async () => {
        stopReloading();
        beat?.stop();
        budget.close();
        await executor?.close();
        await scrubber?.stop();
        await reclaimer?.stop();
        await server.close();
        replicator.close();
        await store.sync().catch(() => undefined);
        await store.close();
        await http$?.close();
        link?.close();
        log(`chunkd ${opts.id} stopped`);
      })()),
  };
}

async function fenceAtStartup(selfId: string, store: ExtentStore, link: MetaLink, log: (line: string) => void): Promise<void> {
  if (store.list().length === 0) return;
  try {
    log(`fenced ${await fenceDroppedReplicas(selfId, store, link)} replicas dropped while this server was away`);
  } catch (err) {
    log(`could not check epochs with metad at startup (serving anyway; stale epochs are still refused per request): ${String(err)}`);
  }
}

function validate(opts: ChunkdOptions): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(opts.id)) throw invalidArgument(`server id must be 1-64 of [A-Za-z0-9._-], got "${opts.id}"`);
  if (opts.zone === '' || opts.zone.length > limits.zoneNameBytesMax) throw invalidArgument(`zone must be 1-${limits.zoneNameBytesMax} bytes`);
  if (opts.dataDir === '') throw invalidArgument('a data directory is required');
  parseListen(opts.listen);
  if (opts.metricsPort !== undefined && !(Number.isInteger(opts.metricsPort) && opts.metricsPort >= 0 && opts.metricsPort < 65536)) {
    throw invalidArgument(`metrics port must be 0-65535, got ${opts.metricsPort}`);
  }
  if (opts.reclaimIntervalMs !== undefined && !(Number.isSafeInteger(opts.reclaimIntervalMs) && opts.reclaimIntervalMs >= 0)) {
    throw invalidArgument(`reclaim interval must be a whole number of milliseconds (0: never), got ${opts.reclaimIntervalMs}`);
  }
  for (const [what, v] of [['repair bandwidth', opts.repairBandwidthBytesPerSec], ['scrub interval', opts.scrubIntervalMs], ['scrub rate', opts.scrubRateBytesPerSec]] as const) {
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 0)) throw invalidArgument(`${what} must be a whole number >= 0, got ${v}`);
  }
}

/** Like parseHostPort, and port 0 (a free port) is allowed. */
function parseListen(text: string): { host: string; port: number } {
  const anyPort = /^(.*):0$/.exec(text);
  return anyPort === null ? parseHostPort(text, 'listen') : { host: parseHostPort(`${anyPort[1]}:1`, 'listen').host, port: 0 };
}

export function diskSpace(dir: string): { capacityBytes: number; freeBytes: number } {
  const s = fs.statfsSync(dir);
  return { capacityBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
}

/** Allocated disk bytes of each volume's folder of extent files (sparse files count what they hold). */
export function volumeBytesOnDisk(dir: string): Map<number, number> {
  const root = `${dir}/extents`;
  const byVolume = new Map<number, number>();
  const volumes = fs.existsSync(root) ? fs.readdirSync(root) : [];
  for (const name of volumes.filter((n) => /^\d+$/.test(n))) {
    let bytes = 0;
    for (const file of fs.readdirSync(`${root}/${name}`)) bytes += statOrNone(`${root}/${name}/${file}`);
    byVolume.set(Number(name), bytes);
  }
  return byVolume;
}

/** volumeBytesOnDisk(dir), counted again at most every limits.chunkVolumeUsageIntervalMs. */
function volumeUsage(dir: string): () => ReadonlyMap<number, number> {
  let counted: { atMs: number; bytes: Map<number, number> } | undefined;
  return () => {
    const now = performance.now();
    if (counted === undefined || now - counted.atMs >= limits.chunkVolumeUsageIntervalMs) counted = { atMs: now, bytes: volumeBytesOnDisk(dir) };
    return counted.bytes;
  };
}

/** A file's allocated bytes, or 0 when it went away while being counted. */
function statOrNone(file: string): number {
  try {
    return fs.statSync(file).blocks * 512;
  } catch {
    return 0;
  }
}

function metricsRefresher(store: FileExtentStore, metrics: ChunkMetrics, dir: string): () => void {
  let storedErrorsSeen = 0;
  return () => {
    const all = store.list();
    metrics.extents.set({ state: 'active' }, all.filter((m) => m.state === 'active').length);
    metrics.extents.set({ state: 'fenced' }, all.filter((m) => m.state === 'fenced').length);
    const space = diskSpace(dir);
    metrics.diskFree.set(space.freeBytes);
    metrics.diskCapacity.set(space.capacityBytes);
    metrics.setVolumeStoredBytes(volumeBytesOnDisk(dir));
    metrics.syncRounds.set(store.syncStats.rounds);
    metrics.syncRequests.set(store.syncStats.requests);
    const io = store.ioStats;
    metrics.fileOps.set({ mode: 'inline' }, io.inline);
    metrics.fileOps.set({ mode: 'pool' }, io.pool);
    metrics.fileOps.set({ mode: 'direct' }, io.direct);
    metrics.directWritesNoSlab.set(io.directNoSlab);
    metrics.directWritesUnsupported.set(io.directUnsupported ? 1 : 0);
    metrics.slowInlineReads.set(io.slowInlineReads);
    metrics.healthy.set(store.failed === undefined ? 1 : 0);
    metrics.checksumErrors.inc({ where: 'stored' }, store.checksumErrors - storedErrorsSeen);
    storedErrorsSeen = store.checksumErrors;
  };
}

