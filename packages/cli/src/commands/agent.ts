import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { invalidArgument, limits, logLine } from '@basalt/stdx';
import { ClientMetrics, connect, type VolumeEvent } from '@basalt/client';
import { AgentMetrics, ClusterVolumeProvider, startNbdAgent, startVolumeThread, writeCacheModes } from '@basalt/agent';
import type { TlsOptions, VolumeProvider, WriteCacheMode } from '@basalt/agent';
import { FramePool, insecureWarning, parseHostPort, reloadOnSighup, TransportSecurity } from '@basalt/wire';
import { flag, int, oneOf, str } from '../args.js';
import { clusterOptions, resolveSecurity, runningMetaEndpoints } from '../cluster.js';
import type { Command, CommandGroup, Io, ParsedArgs } from '../command.js';
import { kekFileOf, keyProviderOf } from '../kek.js';
import { defaultNbdListen } from '../local/layout.js';

/** `basalt agent`: serve the cluster's volumes over NBD (docs/nbd.md). */


function tlsOptions(args: ParsedArgs): TlsOptions | undefined {
  const cert = str(args, 'tls-cert');
  const key = str(args, 'tls-key');
  const ca = str(args, 'tls-ca');
  const required = flag(args, 'tls-required');
  if ((cert === undefined) !== (key === undefined)) throw invalidArgument('--tls-cert and --tls-key go together');
  if (cert === undefined || key === undefined) {
    if (required || ca !== undefined) throw invalidArgument('--tls-required and --tls-ca need --tls-cert and --tls-key');
    return undefined;
  }
  return { cert: readPem(cert, '--tls-cert'), key: readPem(key, '--tls-key'), ...(ca !== undefined && { ca: readPem(ca, '--tls-ca') }), required };
}

/** Loopback: only processes on this host can connect (NBD tools beside the agent). */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw invalidArgument(`${what} ${path}: ${(err as Error).message}`);
  }
}

/** Where the SDK runs: `off` (default), on the main thread beside the NBD sockets; `on`, in the agent's volume thread (docs/nbd.md, "The volume thread"). */
const volumeThreadModes = ['off', 'on'] as const;
type VolumeThreadMode = (typeof volumeThreadModes)[number];

/**
 * What serves the volumes: the provider, how to reread TLS files and stop what it runs, and the
 * metrics it keeps outside the agent's registry (the volume thread's).
 */
type Served = { readonly provider: VolumeProvider; reload(): void; stop(): Promise<void>; moreMetrics?: () => Promise<string> };

/**
 * The volumes the agent serves: the cluster behind --metad, through the client SDK (on the main
 * thread, or in the volume thread), whose failovers are logged and whose metrics (basalt_client_*)
 * join the agent's. A stopped local cluster named by a cluster file is
 * refused at start.
 */
async function volumeProvider(args: ParsedArgs, io: Io, security: TransportSecurity, metrics: AgentMetrics, mode: VolumeThreadMode): Promise<Served> {
  const onEvent = (e: VolumeEvent): void => io.err(`${describeEvent(e)}\n`);
  const metad = await runningMetaEndpoints(args, io);
  const clientId = `agent@${hostname()}/${process.pid}`;
  if (mode === 'on') {
    const thread = startVolumeThread(
      // Two pools (the main thread's for WRITE payloads, the thread's for read replies) share the agent's one budget.
      { metad, tlsFiles: security.tlsFiles, clientId, kekFile: kekFileOf(args, io), framePoolBytesMax: limits.agentFramePoolBytesMax / 2 },
      { onEvent, log: (line) => io.err(logLine(line)) },
    );
    return { ...thread, moreMetrics: () => thread.provider.metrics() };
  }
  const keyProvider = keyProviderOf(args, io);
  // Large reads are assembled in recycled buffers, which the agent gives back once their reply is sent.
  const framePool = new FramePool(limits.agentFramePoolBytesMax);
  const client = connect({ metad, security, clientId, onEvent, framePool, metrics: new ClientMetrics(metrics.registry), ...(keyProvider !== undefined && { keyProvider }) });
  return { provider: new ClusterVolumeProvider(client, framePool), reload: () => {}, stop: () => Promise.resolve() };
}

function describeEvent(e: VolumeEvent): string {
  if (e.kind === 'holder_request') {
    const what = e.request === 'snapshot' ? `snapshot ${e.snapshot ?? ''} asked of this writer` : 'background flatten asked of this writer';
    return `nbd ${e.volume}: ${what} ${e.error === undefined ? 'done' : `failed (${e.error}); retried at the next poll if still asked`}`;
  }
  const where = `nbd ${e.volume}: extent ${e.index}`;
  switch (e.kind) {
    case 'replica_dropped':
      return `${where}: dropped unresponsive primary ${e.serverId} from its replica set (epoch ${e.epoch})`;
    case 'checksum_error':
      return `${where}: replica ${e.serverId} returned data that fails its checksums; read another replica`;
    case 'allocated_degraded':
      return `${where}: placed degraded on ${e.replicas.join(',')} (${e.replicas.length} of ${e.replicationFactor} replicas; too few chunk servers up after ${e.waitedMs} ms)`;
  }
}

const agent: Command = {
  name: '',
  summary: 'serve volumes over NBD (Ctrl-C or SIGTERM stops it)',
  usage: `--metad HOST:PORT,... [--listen HOST:PORT (${defaultNbdListen})] [--metrics-port N] [--read-only] [--force-takeover] [--write-cache writethrough|auto|writeback] [--volume-thread off|on] [--tls-cert PEM --tls-key PEM [--tls-ca PEM] [--tls-required]] [--metrics-tls] [--insecure]`,
  options: {
    ...clusterOptions,
    listen: { type: 'string' }, 'metrics-port': { type: 'string' }, 'read-only': { type: 'boolean' }, 'force-takeover': { type: 'boolean' }, 'write-cache': { type: 'string' }, 'volume-thread': { type: 'string' },
    'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, 'tls-ca': { type: 'string' }, 'tls-required': { type: 'boolean' }, insecure: { type: 'boolean' }, 'metrics-tls': { type: 'boolean' },
  },
  run: async (args, io) => {
    const listen = parseHostPort(str(args, 'listen') ?? defaultNbdListen, '--listen');
    const metricsPort = int(args, 'metrics-port', 0, 65535);
    const readOnly = flag(args, 'read-only');
    const forceTakeover = flag(args, 'force-takeover');
    if (readOnly && forceTakeover) throw invalidArgument('--force-takeover takes the writer lease; it makes no sense with --read-only');
    const tls = tlsOptions(args);
    const insecure = flag(args, 'insecure');
    if (!isLoopback(listen.host) && tls?.required !== true && !insecure) {
      throw invalidArgument(`the NBD listener may be plaintext on loopback only; to listen on ${listen.host}, pass --tls-cert, --tls-key, --tls-ca and --tls-required (NBD clients then need a certificate of that CA), or --insecure`);
    }
    if (insecure) io.err(logLine(insecureWarning));
    const writeCache = oneOf<WriteCacheMode>(args, 'write-cache', writeCacheModes, 'writethrough');
    const volumeThread = oneOf<VolumeThreadMode>(args, 'volume-thread', volumeThreadModes, 'off');
    // The agent's links to metad and the chunk servers (and, with --metrics-tls, its metrics page).
    const security = insecure ? TransportSecurity.insecure() : resolveSecurity(args, io);
    const metricsTls = flag(args, 'metrics-tls');
    const metrics = new AgentMetrics({ defaultMetrics: true });
    const served = await volumeProvider(args, io, security, metrics, volumeThread);
    reloadOnSighup(security, (line) => io.err(logLine(line)));
    if (security.secure) process.on('SIGHUP', () => served.reload());
    const running = await startNbdAgent({ provider: served.provider, metrics, listen, metricsPort, metricsSecurity: { security, tls: metricsTls }, readOnly, forceTakeover, tls, writeCache, log: (m) => io.err(logLine(m)), ...(served.moreMetrics !== undefined && { moreMetrics: served.moreMetrics }) })
      .catch(async (err: unknown) => {
        await served.stop();
        throw err;
      });
    io.out(`basalt agent: NBD on ${running.nbd.address}:${running.nbd.port}${tls?.required ? ' (TLS required)' : ''}` +
      `${running.metrics ? `, metrics on ${metricsTls ? 'https' : 'http'}://${running.metrics.address}:${running.metrics.port}/metrics` : ''}\n`);
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        io.err(`basalt agent: ${signal}: shutting down\n`);
        void running.close().then(() => served.stop()).then(resolve);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    return 0;
  },
};

export const agentGroup: CommandGroup = { name: 'agent', summary: 'the NBD agent', commands: [agent] };
