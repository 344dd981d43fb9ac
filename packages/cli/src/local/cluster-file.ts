import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BasaltError, ErrorCode, invalidArgument } from '@basalt/stdx';

/**
 * `DIR/cluster.json`: where a local cluster's processes listen, where their data lives and
 * which process ids they have. `basalt up` writes it; every other command reads it to find
 * the cluster (--cluster FILE, BASALT_CLUSTER, or ./.basalt/cluster.json).
 */
export interface ClusterFile {
  version: 1;
  /** Absolute folder holding all data and logs. */
  dir: string;
  /** 'starting' while processes come up, 'running' once all are ready, 'stopped' after down. */
  state: 'starting' | 'running' | 'stopped' | 'failed';
  /** The `basalt up` process that supervises the others. */
  supervisorPid: number;
  /** URL of the web console (any member's console redirects to the leader's); absent in files written before it existed. */
  console?: string;
  metad: MetadEntry[];
  chunkd: ChunkEntry[];
  agent: AgentEntry;
  /**
   * Mutual TLS: the certificate folder and the files the CLI and the SDK use (an admin
   * identity). Absent when the cluster runs with --insecure (then `insecure` is true).
   */
  tls?: ClusterTls;
  /** The cluster was started with --insecure: no TLS on any link. */
  insecure?: boolean;
  /** Set when state is 'failed'. */
  error?: string;
  /** The KEK file of encrypted volumes (0600, made by `basalt up`); absent in files written before it existed. */
  kekFile?: string;
}

export interface ClusterTls {
  /** The certificate folder (basalt certs --dir): CA, trust bundle, every process's certificate. */
  dir: string;
  /** Trust bundle, certificate and key of the CLI's admin identity. */
  ca: string;
  cert: string;
  key: string;
}

export interface ProcessEntry {
  id: string;
  /** Prometheus metrics, host:port. */
  metrics: string;
  log: string;
  /** 0 while not running. */
  pid: number;
}

export interface MemberEntry extends ProcessEntry {
  address: string;
  dataDir: string;
}

export interface MetadEntry extends MemberEntry {
  /** The member's web console, host:port (absent in files written before it existed). */
  console?: string;
}

export interface ChunkEntry extends MemberEntry {
  zone: string;
}

export interface AgentEntry extends ProcessEntry {
  /** NBD listener, host:port. */
  nbd: string;
}

export const defaultClusterDir = '.basalt';
export const clusterFileName = 'cluster.json';

export function clusterFilePath(dir: string): string {
  return join(resolve(dir), clusterFileName);
}

export function readClusterFile(path: string): ClusterFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BasaltError(ErrorCode.InvalidArgument, `cannot read cluster file ${path}: ${(err as Error).message}; start a cluster with "basalt up" or pass --metad`, { path });
  }
  const parsed = JSON.parse(text) as Partial<ClusterFile>;
  if (parsed.version !== 1 || !Array.isArray(parsed.metad) || !Array.isArray(parsed.chunkd) || parsed.agent === undefined) {
    throw invalidArgument(`${path} is not a Basalt cluster file (version 1)`, { path });
  }
  return parsed as ClusterFile;
}

export function tryReadClusterFile(path: string): ClusterFile | undefined {
  return existsSync(path) ? readClusterFile(path) : undefined;
}

/** Writes atomically (temp file + rename), so readers never see half a file. */
export function writeClusterFile(file: ClusterFile): void {
  mkdirSync(file.dir, { recursive: true });
  const path = join(file.dir, clusterFileName);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(file, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

/** The metad endpoints of a cluster file. */
export function metaEndpointsOf(file: ClusterFile): string[] {
  return file.metad.map((m) => m.address);
}
