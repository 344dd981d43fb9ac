import { invalidArgument, limits, logLine } from '@basalt/stdx';
import type { MetadOptions } from '@basalt/meta';
import type { Member } from '@basalt/client';
import { parseHostPort, securityFromFlags, tlsFlags, tlsUsage } from '@basalt/wire';
import { flag, int, requireStr, size, str } from '../args.js';
import { clusterOptions } from '../cluster.js';
import type { Command, CommandGroup, Io, ParsedArgs } from '../command.js';
import { printJson, printTable } from '../output.js';
import { withClient } from '../sdk.js';

/** "m1=127.0.0.1:7001,m2=..." -> Map(id -> address). */
export function parsePeers(text: string): Map<string, string> {
  const peers = new Map<string, string>();
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw invalidArgument(`--peers items must be id=host:port, got "${item}"`);
    const id = item.slice(0, eq);
    const address = item.slice(eq + 1);
    parseHostPort(address, '--peers');
    if (peers.has(id)) throw invalidArgument(`--peers lists member "${id}" twice`);
    peers.set(id, address);
  }
  if (peers.size > limits.metaMembersMax) throw invalidArgument(`--peers lists ${peers.size} members; at most ${limits.metaMembersMax}`);
  return peers;
}

const start: Command = {
  name: 'start', summary: 'run one metad member in the foreground (Ctrl-C or SIGTERM stops it)',
  usage: `--id ID --listen HOST:PORT --peers ID=HOST:PORT,... --data-dir DIR [--metrics-port N [--metrics-tls]] [--console-port N [--console-host HOST] [--console-scrape HOST:PORT,...]] [--join | --force-new-cluster] [--signing-key FILE] ${tlsUsage} [tuning flags]`,
  options: {
    id: { type: 'string' }, listen: { type: 'string' }, peers: { type: 'string' }, 'data-dir': { type: 'string' },
    'metrics-port': { type: 'string' }, 'metrics-tls': { type: 'boolean' }, 'console-port': { type: 'string' }, 'console-host': { type: 'string' }, 'console-scrape': { type: 'string' }, join: { type: 'boolean' }, 'force-new-cluster': { type: 'boolean' }, cluster: { type: 'string' },
    'tick-ms': { type: 'string' }, 'election-ticks': { type: 'string' }, 'heartbeat-ticks': { type: 'string' },
    'snapshot-entries': { type: 'string' }, 'snapshot-bytes': { type: 'string' }, 'snapshot-keep': { type: 'string' },
    'request-timeout-ms': { type: 'string' }, 'chunk-heartbeat-ms': { type: 'string' }, 'chunk-down-after-ms': { type: 'string' },
    'down-out-interval': { type: 'string' },
    ...tlsFlags,
    'signing-key': { type: 'string' },
  },
  run: async (args, io) => {
    // Loaded here so that other commands start without LevelDB and the server code.
    const { startMetad } = await import('@basalt/meta');
    const metad = await startMetad(startOptions(args, io));
    const stop = (signal: string): void => {
      io.err(`metad: ${signal}: shutting down\n`);
      void metad.close();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    await metad.stopped;
    return 0;
  },
};

function startOptions(args: ParsedArgs, io: Io): MetadOptions {
  const listen = requireStr(args, 'listen');
  parseHostPort(listen, '--listen');
  const optional = {
    cluster: str(args, 'cluster'),
    metricsPort: int(args, 'metrics-port', 0, 65535),
    metricsTls: flag(args, 'metrics-tls'),
    consolePort: int(args, 'console-port', 0, 65535),
    consoleHost: str(args, 'console-host'),
    consoleScrape: consoleScrape(str(args, 'console-scrape')),
    tickMs: int(args, 'tick-ms', 1, 60_000),
    electionTicks: int(args, 'election-ticks', 2, 10_000),
    heartbeatTicks: int(args, 'heartbeat-ticks', 1, 10_000),
    snapshotEntries: int(args, 'snapshot-entries', 1, 100_000_000),
    snapshotBytes: size(args, 'snapshot-bytes'),
    snapshotKeepEntries: int(args, 'snapshot-keep', 0, 100_000_000),
    requestTimeoutMs: int(args, 'request-timeout-ms', 100, 600_000),
    chunkHeartbeatMs: int(args, 'chunk-heartbeat-ms', 10, 600_000),
    chunkDownAfterMs: int(args, 'chunk-down-after-ms', 10, 3_600_000),
    downOutIntervalMs: downOutIntervalMs(str(args, 'down-out-interval')),
    signingKeyFile: str(args, 'signing-key'),
  };
  const defined = Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined));
  return {
    id: requireStr(args, 'id'), listen, peers: parsePeers(str(args, 'peers') ?? ''), dataDir: requireStr(args, 'data-dir'),
    join: flag(args, 'join'), forceNewCluster: flag(args, 'force-new-cluster'), security: securityFromFlags(args.values), log: (line) => io.out(logLine(line)), ...defined,
  };
}

const durationUnitMs: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** --down-out-interval: 10m, 90s, 500ms, 2h or 1d; from 1 ms to 7 days. */
export function downOutIntervalMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  const ms = m === null ? NaN : Number(m[1]) * durationUnitMs[m[2]!]!;
  if (!(ms >= 1 && ms <= 7 * 24 * 3_600_000)) throw invalidArgument(`--down-out-interval must be a duration such as 10m, 90s, 500ms, 2h or 1d, from 1ms to 7 days; got "${text}"`);
  return ms;
}

/** "h:p,h:p" -> ['h:p', 'h:p'], each checked; undefined when not given. */
function consoleScrape(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const list = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const a of list) parseHostPort(a, '--console-scrape');
  return list;
}

function memberRows(members: readonly Member[]): string[][] {
  return members.map((m) => [m.id, m.address, m.learner ? 'learner' : 'voter']);
}

const actions = ['list', 'add', 'add-learner', 'remove', 'promote'] as const;

const members: Command = {
  name: 'members', summary: 'list, add, remove or promote metad members',
  usage: '[list | add ID --address HOST:PORT | add-learner ID --address HOST:PORT | remove ID | promote ID] [--json]',
  options: { ...clusterOptions, json: { type: 'boolean' }, address: { type: 'string' } },
  positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    const [action = 'list', id, ...rest] = args.positionals;
    if (!(actions as readonly string[]).includes(action)) throw invalidArgument(`unknown action "${action}": use ${actions.join(', ')}`);
    if (rest.length > 0 || (action === 'list') !== (id === undefined)) throw invalidArgument(`usage: basalt meta members ${members.usage}`);
    const memberId = id ?? '';
    let reply: Member[];
    if (action === 'list') reply = await client.listMembers();
    else if (action === 'add' || action === 'add-learner') {
      reply = await client.addMember(memberId, requireStr(args, 'address'), { learner: action === 'add-learner' });
    } else if (action === 'remove') reply = await client.removeMember(memberId);
    else reply = await client.promoteMember(memberId);
    if (flag(args, 'json')) printJson(io, reply.map((m) => ({ id: m.id, address: m.address, learner: m.learner })));
    else printTable(io, ['ID', 'ADDRESS', 'KIND'], memberRows(reply));
    return 0;
  }),
};

const transfer: Command = {
  name: 'transfer-leader', summary: 'hand leadership to another voter', usage: 'ID', options: { ...clusterOptions }, positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    if (args.positionals.length !== 1) throw invalidArgument('expected the id of the new leader');
    await client.transferLeader(args.positionals[0] ?? '');
    io.out(`leadership transfer to ${args.positionals[0]} started\n`);
    return 0;
  }),
};

export const metaGroup: CommandGroup = { name: 'meta', summary: 'run and manage metad members', commands: [start, members, transfer] };
