import { invalidArgument } from '@basalt/stdx';
import { MetaClient, parseEndpoints } from '@basalt/wire';
import type { ParsedArgs, Io } from './command.js';
import { str } from './args.js';
import type { ClusterFile } from './local/cluster-file.js';
import { clusterFilePath, defaultClusterDir, metaEndpointsOf, readClusterFile, tryReadClusterFile } from './local/cluster-file.js';
import { defaultNbdListen } from './local/layout.js';

/** Flags every command that talks to a cluster accepts. */
export const clusterOptions = {
  metad: { type: 'string' },
  cluster: { type: 'string' },
  timeout: { type: 'string' },
} as const;

/**
 * The metad endpoints a command talks to, the first that is given of: --metad host:port,...,
 * BASALT_METAD, --cluster FILE, BASALT_CLUSTER (a cluster.json written by `basalt up`), and
 * ./.basalt/cluster.json.
 */
export function resolveMetaEndpoints(args: ParsedArgs, io: Io): string[] {
  const flagValue = str(args, 'metad');
  if (flagValue !== undefined) return parseEndpoints(flagValue, '--metad');
  const env = io.env.BASALT_METAD;
  if (env !== undefined && env !== '') return parseEndpoints(env, 'BASALT_METAD');
  const file = findClusterFile(args, io);
  if (file !== undefined) return metaEndpointsOf(file);
  throw invalidArgument(`no cluster given: pass --metad host:port[,...] or --cluster FILE, set BASALT_METAD or BASALT_CLUSTER, or start one here with "basalt up"`);
}

/**
 * The NBD agent's host:port: --agent, BASALT_AGENT, the cluster file's `agent.nbd`
 * (found as for resolveMetaEndpoints), or the default 127.0.0.1:10809.
 */
export function resolveAgentAddress(args: ParsedArgs, io: Io): string {
  const given = str(args, 'agent') ?? nonEmpty(io.env.BASALT_AGENT);
  if (given !== undefined) return given;
  return findClusterFile(args, io)?.agent.nbd ?? defaultNbdListen;
}

/** --cluster FILE, BASALT_CLUSTER, or ./.basalt/cluster.json when it exists. */
export function findClusterFile(args: ParsedArgs, io: Io): ClusterFile | undefined {
  const path = str(args, 'cluster') ?? nonEmpty(io.env.BASALT_CLUSTER);
  if (path !== undefined) return readClusterFile(path);
  return tryReadClusterFile(clusterFilePath(defaultClusterDir));
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** A MetaClient for the command's cluster; the caller closes it. */
export function metaClient(args: ParsedArgs, io: Io): MetaClient {
  const timeout = str(args, 'timeout');
  const callTimeoutMs = timeout === undefined ? undefined : parseTimeoutMs(timeout);
  return new MetaClient({ endpoints: resolveMetaEndpoints(args, io), ...(callTimeoutMs !== undefined && { callTimeoutMs }) });
}

/** Runs `fn` with a MetaClient and closes it. */
export async function withMeta<T>(args: ParsedArgs, io: Io, fn: (client: MetaClient) => Promise<T>): Promise<T> {
  const client = metaClient(args, io);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

function parseTimeoutMs(text: string): number {
  const m = /^(\d+)(ms|s)?$/.exec(text);
  if (!m) throw invalidArgument(`--timeout must be a duration such as 500ms or 30s, got "${text}"`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : 1000);
}
