import { join } from 'node:path';
import { invalidArgument } from '@basalt/stdx';
import { parseEndpoints, TransportSecurity } from '@basalt/wire';
import type { ParsedArgs, Io } from './command.js';
import { str } from './args.js';
import type { ClusterFile } from './local/cluster-file.js';
import { clusterFilePath, defaultClusterDir, metaEndpointsOf, readClusterFile, tryReadClusterFile } from './local/cluster-file.js';
import { defaultNbdListen } from './local/layout.js';
import { assertLocalClusterRunning } from './local/liveness.js';

/** Flags every command that talks to a cluster accepts. */
export const clusterOptions = {
  metad: { type: 'string' },
  cluster: { type: 'string' },
  timeout: { type: 'string' },
  /** The KEK of encrypted volumes (kek.ts). */
  'kek-file': { type: 'string' },
} as const;

/** Where a command's cluster came from: endpoints given directly, or a cluster file. */
type ClusterSource =
  | { kind: 'endpoints'; endpoints: string[] }
  | { kind: 'file'; file: ClusterFile; path: string };

/**
 * The metad endpoints a command talks to, the first that is given of: --metad host:port,...,
 * BASALT_METAD, --cluster FILE, BASALT_CLUSTER (a cluster.json written by `basalt up`), and
 * ./.basalt/cluster.json (in io.cwd).
 */
export function resolveMetaEndpoints(args: ParsedArgs, io: Io): string[] {
  const source = resolveCluster(args, io);
  return source.kind === 'endpoints' ? source.endpoints : metaEndpointsOf(source.file);
}

/**
 * As resolveMetaEndpoints, and when they come from a cluster file, first checks that its local
 * cluster runs: a stopped one is reported within about a second (BASALT_CLUSTER_NOT_RUNNING,
 * with how to start it) instead of after the whole call deadline.
 */
export async function runningMetaEndpoints(args: ParsedArgs, io: Io): Promise<string[]> {
  const source = resolveCluster(args, io);
  if (source.kind === 'endpoints') return source.endpoints;
  await assertLocalClusterRunning(source.file, source.path, io.cwd);
  return metaEndpointsOf(source.file);
}

/** The cluster file the command found its cluster through, if it did (not with --metad or BASALT_METAD). */
export function clusterFileOf(args: ParsedArgs, io: Io): ClusterFile | undefined {
  const source = resolveCluster(args, io);
  return source.kind === 'file' ? source.file : undefined;
}

function resolveCluster(args: ParsedArgs, io: Io): ClusterSource {
  const flagValue = str(args, 'metad');
  if (flagValue !== undefined) return { kind: 'endpoints', endpoints: parseEndpoints(flagValue, '--metad') };
  const env = io.env.BASALT_METAD;
  if (env !== undefined && env !== '') return { kind: 'endpoints', endpoints: parseEndpoints(env, 'BASALT_METAD') };
  const found = findClusterFile(args, io);
  if (found !== undefined) return { kind: 'file', ...found };
  throw invalidArgument(`no cluster given: pass --metad host:port[,...] or --cluster FILE, set BASALT_METAD or BASALT_CLUSTER, or start one here with "basalt up"`);
}

/**
 * How the command secures its links, found as the endpoints are: the cluster file's `tls` files
 * (none when it ran with --insecure); with --metad or BASALT_METAD, the files named by
 * BASALT_TLS_CA, BASALT_TLS_CERT and BASALT_TLS_KEY, or plain TCP when none is set.
 */
export function resolveSecurity(args: ParsedArgs, io: Io): TransportSecurity {
  const source = resolveCluster(args, io);
  if (source.kind === 'file') return source.file.tls === undefined ? TransportSecurity.insecure() : TransportSecurity.fromFiles(source.file.tls);
  const files = { ca: nonEmpty(io.env.BASALT_TLS_CA), cert: nonEmpty(io.env.BASALT_TLS_CERT), key: nonEmpty(io.env.BASALT_TLS_KEY) };
  const set = Object.values(files).filter((v) => v !== undefined).length;
  if (set === 0) return TransportSecurity.insecure();
  if (set < 3) throw invalidArgument('BASALT_TLS_CA, BASALT_TLS_CERT and BASALT_TLS_KEY go together (mutual TLS needs all three)');
  return TransportSecurity.fromFiles(files as { ca: string; cert: string; key: string });
}

/**
 * The NBD agent's host:port: --agent, BASALT_AGENT, the cluster file's `agent.nbd`
 * (found as for resolveMetaEndpoints), or the default 127.0.0.1:10809.
 */
export function resolveAgentAddress(args: ParsedArgs, io: Io): string {
  const given = str(args, 'agent') ?? nonEmpty(io.env.BASALT_AGENT);
  if (given !== undefined) return given;
  return findClusterFile(args, io)?.file.agent.nbd ?? defaultNbdListen;
}

/** --cluster FILE, BASALT_CLUSTER, or ./.basalt/cluster.json in io.cwd when it exists. */
function findClusterFile(args: ParsedArgs, io: Io): { file: ClusterFile; path: string } | undefined {
  const given = str(args, 'cluster') ?? nonEmpty(io.env.BASALT_CLUSTER);
  if (given !== undefined) return { file: readClusterFile(given), path: given };
  const path = clusterFilePath(join(io.cwd, defaultClusterDir));
  const file = tryReadClusterFile(path);
  return file === undefined ? undefined : { file, path };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** --timeout: 500ms or 30s; the total time one metad call may take. */
export function parseTimeoutMs(text: string): number {
  const m = /^(\d+)(ms|s)?$/.exec(text);
  if (!m) throw invalidArgument(`--timeout must be a duration such as 500ms or 30s, got "${text}"`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : 1000);
}
