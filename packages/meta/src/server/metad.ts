import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { BasaltError, ErrorCode, limits, MiB, type Identity } from '@basalt/stdx';
import { insecureWarning, parseHostPort, reloadOnSighup, serveMetrics, TransportSecurity } from '@basalt/wire';
import { CapabilitySigner } from './capability-signer.js';
import { ChunkServerLiveness } from './chunk-server-liveness.js';
import { startGrpcServer, type MetaPort } from './grpc-server.js';
import { LevelLogStore } from './level-log-store.js';
import { asCaller, metaHandlers } from './meta-api.js';
import { AuditLog } from './audit-log.js';
import { MetaMetrics } from './metrics.js';
import { startConsole } from './console/console-server.js';
import type { MetaConsole } from './console/console-server.js';
import { RaftHost } from './raft-host.js';
import { RepairLoop } from './repair-loop.js';

export interface MetadOptions {
  id: string;
  /** host:port of the gRPC server (Meta API and Raft transport). */
  listen: string;
  /** The initial members, id -> host:port (this member may be left out). */
  peers: ReadonlyMap<string, string>;
  dataDir: string;
  /**
   * PKCS#8 PEM file of the cluster's Ed25519 signing key (the same file on every member): metad
   * then signs capabilities and extent states (docs/data-path.md, "Capabilities"). Undefined:
   * it signs nothing, and chunk servers not started with --require-capabilities check nothing.
   */
  signingKeyFile?: string;
  /** Join a running cluster (after `basalt meta members add`) instead of bootstrapping one. */
  join?: boolean;
  /** Disaster recovery after losing a majority: restart this member as a one-member cluster. */
  forceNewCluster?: boolean;
  cluster?: string;
  /** Port of the /metrics HTTP server on the listen host; 0 picks a free one; undefined: none. */
  metricsPort?: number;
  /** Serve /metrics over HTTPS to holders of a cluster certificate (needs the TLS files). */
  metricsTls?: boolean;
  /** Port of the web console (docs/console.md); 0 picks a free one; undefined: none. */
  consolePort?: number;
  /** Address the console binds (default 127.0.0.1: the console has no access control yet). */
  consoleHost?: string;
  /** host:port of agents' /metrics that the console samples for per-volume I/O. */
  consoleScrape?: readonly string[];
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  snapshotEntries?: number;
  snapshotBytes?: number;
  snapshotKeepEntries?: number;
  requestTimeoutMs?: number;
  chunkHeartbeatMs?: number;
  chunkDownAfterMs?: number;
  /** A chunk server down this long is marked out and its replicas are rebuilt elsewhere. */
  downOutIntervalMs?: number;
  /** How often the leader runs a repair planner round. */
  repairIntervalMs?: number;
  /** The API, the Raft transport and the console's calls to members (default: insecure). */
  security?: TransportSecurity;
  log?: (line: string) => void;
}

export const metadDefaults = {
  cluster: 'basalt',
  tickMs: 50,
  electionTicks: 5,
  heartbeatTicks: 1,
  snapshotEntries: 10_000,
  snapshotBytes: 16 * MiB,
  snapshotKeepEntries: 1_000,
  requestTimeoutMs: 10_000,
  chunkHeartbeatMs: 1_000,
  chunkDownAfterMs: 5_000,
  downOutIntervalMs: limits.metaDownOutIntervalMsDefault,
  repairIntervalMs: 1_000,
} as const;

/**
 * Who the web console reads the Meta API as: an admin (it binds loopback by default and has no
 * access control of its own yet, docs/console.md).
 */
const consoleIdentity: Identity = { role: 'admin', name: 'console' };

/** A running metad member. */
export interface Metad {
  readonly id: string;
  readonly address: string;
  /** host:port of /metrics, or '' when not served. */
  readonly metricsAddress: string;
  /** host:port of the web console, or '' when not served. */
  readonly consoleAddress: string;
  readonly host: RaftHost;
  /** Resolves once the member has stopped (closed, or removed from the cluster). */
  readonly stopped: Promise<void>;
  close(): Promise<void>;
}

/** Starts one metad member: opens its log, joins the Raft group and serves the Meta API. */
export async function startMetad(options: MetadOptions): Promise<Metad> {
  const o = { ...metadDefaults, ...options };
  const log = o.log ?? ((line: string) => console.log(line));
  const { host: listenHost } = parseHostPort(o.listen, 'listen');
  claimDataDir(o.dataDir, o.id, o.cluster);
  const security = o.security ?? TransportSecurity.insecure();
  if (!security.secure) log(insecureWarning);
  const metrics = new MetaMetrics();
  const peers = new Map(o.peers);
  peers.set(o.id, o.listen);
  let onRemoved = (): void => undefined;
  const host = await RaftHost.open({
    id: o.id, address: o.listen, cluster: o.cluster, store: new LevelLogStore(join(o.dataDir, 'raft')), peers, join: o.join ?? false, forceNewCluster: o.forceNewCluster ?? false,
    tickMs: o.tickMs, electionTicks: o.electionTicks, heartbeatTicks: o.heartbeatTicks,
    snapshotEntries: o.snapshotEntries, snapshotBytes: o.snapshotBytes, snapshotKeepEntries: o.snapshotKeepEntries,
    requestTimeoutMs: o.requestTimeoutMs, metrics, log, security, onRemoved: () => onRemoved(),
  });
  const liveness = new ChunkServerLiveness(host, o.chunkHeartbeatMs);
  metrics.trackStoredBytes(() => liveness.totalStoredBytes());
  const repair = new RepairLoop(host, liveness, { intervalMs: o.repairIntervalMs, downAfterMs: o.chunkDownAfterMs, downOutIntervalMs: o.downOutIntervalMs, metrics, log });
  let http: HttpServer | undefined;
  let metricsAddress = '';
  if (o.metricsPort !== undefined) {
    const served = await serveMetrics(metrics.registry, { host: listenHost, port: o.metricsPort, security, tls: o.metricsTls === true });
    http = served.server;
    metricsAddress = `${listenHost}:${served.address.port}`;
  }
  const webConsole = o.consolePort === undefined ? undefined : await startConsole({
    host, listen: { host: o.consoleHost ?? '127.0.0.1', port: o.consolePort }, cluster: o.cluster, scrape: o.consoleScrape ?? [], security, log,
  });
  const consoleAddress = webConsole?.address ?? '';
  const audit = await AuditLog.open(o.dataDir, log);
  const signer = o.signingKeyFile === undefined ? undefined : CapabilitySigner.fromFile(o.signingKeyFile);
  const handlers = metaHandlers({ host, audit, liveness, repair, pid: process.pid, metricsAddress, consoleAddress, signer });
  webConsole?.serve(asCaller(handlers, consoleIdentity));
  const port = await startGrpcServer(o.listen, handlers, host, metrics, security, log);
  const stopReloading = reloadOnSighup(security, log);
  repair.start();
  log(`metad: member ${o.id} serving on ${o.listen} (${security.secure ? 'mutual TLS' : 'INSECURE'})${metricsAddress ? `, metrics on ${o.metricsTls === true ? 'https' : 'http'}://${metricsAddress}/metrics` : ''}${consoleAddress ? `, console on http://${consoleAddress}/` : ''}`);

  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    stopReloading();
    closing ??= shutdown(port, http, host, repair, webConsole).then(() => audit.close()).then(() => {
      log(`metad: member ${o.id} stopped`);
      resolveStopped();
    });
    return closing;
  };
  onRemoved = () => void close();
  return { id: o.id, address: o.listen, metricsAddress, consoleAddress, host, stopped, close };
}

/**
 * Stops in an order that cannot hang: the host first (calls waiting for commit or a read index
 * get BASALT_CLOSED, the log store closes), then the port stops accepting and its Raft connections
 * close, and gRPC gets a second to send those answers.
 */
async function shutdown(port: MetaPort, http: HttpServer | undefined, host: RaftHost, repair: RepairLoop, webConsole: MetaConsole | undefined): Promise<void> {
  repair.stop();
  await webConsole?.close();
  await host.close();
  port.listener.close();
  const grpc = port.grpc;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      grpc.forceShutdown();
      resolve();
    }, 1_000);
    grpc.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  http?.closeAllConnections();
  if (http !== undefined) await new Promise<void>((resolve) => http.close(() => resolve()));
}

/**
 * A data dir belongs to one member of one cluster: member.json records which, and a start with
 * another id or cluster is refused rather than mixing two members' logs.
 */
function claimDataDir(dataDir: string, id: string, cluster: string): void {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'member.json');
  if (!existsSync(file)) {
    writeFileSync(file, `${JSON.stringify({ id, cluster }, null, 2)}\n`);
    return;
  }
  const claimed = JSON.parse(readFileSync(file, 'utf8')) as { id?: unknown; cluster?: unknown };
  if (claimed.id !== id || claimed.cluster !== cluster) {
    throw new BasaltError(ErrorCode.InvalidArgument, `data dir ${dataDir} belongs to member ${String(claimed.id)} of cluster ${String(claimed.cluster)}, not ${id} of ${cluster}`, { dataDir });
  }
}
