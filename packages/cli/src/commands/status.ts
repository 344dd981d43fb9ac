import type { BasaltError } from '@basalt/stdx';
import type { MetaClient, pb } from '@basalt/wire';
import { flag } from '../args.js';
import { clusterFileOf, clusterOptions, resolveMetaEndpoints, withMeta } from '../cluster.js';
import type { Command, CommandGroup, Io, ParsedArgs } from '../command.js';
import { printJson, printTable } from '../output.js';

export interface MemberStatusJson {
  id: string;
  address: string;
  role: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  pid: number;
  leaderId: string;
  stateHash: string;
  snapshotIndex: number;
  error?: { code: string; message: string };
}

/**
 * Asks every member for its own status: the members the cluster lists (when any member
 * answers) plus the endpoints given, so an unreachable member shows up with its error.
 */
export async function clusterStatus(meta: MetaClient, endpoints: readonly string[]): Promise<MemberStatusJson[]> {
  const addresses = new Set(endpoints);
  try {
    for (const m of (await meta.call('listMembers', { stale: true }, { timeoutMs: 3_000 })).members) if (m.address) addresses.add(m.address);
  } catch {
    // No member answered: report the endpoints alone.
  }
  return Promise.all([...addresses].sort().map(async (address) => {
    try {
      return statusJson(await meta.call('status', { stateHash: true }, { address, timeoutMs: 3_000 }));
    } catch (err) {
      const e = err as BasaltError;
      return { ...statusJson({ address }), error: { code: e.code, message: e.message } };
    }
  }));
}

function statusJson(s: pb.IStatusReply): MemberStatusJson {
  return {
    id: s.id ?? '', address: s.address ?? '', role: s.role ?? '', term: s.term ?? 0, commitIndex: s.commitIndex ?? 0,
    appliedIndex: s.appliedIndex ?? 0, pid: s.pid ?? 0, leaderId: s.leaderId ?? '', stateHash: s.stateHash ?? '', snapshotIndex: s.snapshotIndex ?? 0,
  };
}

export interface ChunkServerStatusJson {
  id: string;
  address: string;
  zone: string;
  state: string;
  capacityBytes: number;
  freeBytes: number;
  extentCount: number;
  lastHeartbeatMs: number;
  /** From the local cluster file (basalt up); 0 when unknown (a cluster not started here). */
  pid: number;
  /** Copies this server runs as a primary (its last heartbeat, as the leader heard it). */
  repair: { copiesRunning: number; bytesLeft: number; bytesCopied: number; rateBytesPerSec: number };
  /** When the server last finished a scrub pass (ms since the Unix epoch); 0: not yet. */
  scrubLastPassMs: number;
  scrubRepairedBlocks: number;
}

export interface RepairStatusJson {
  allocatedExtents: number;
  degradedExtents: number;
  criticalExtents: number;
  waitingExtents: number;
  rebuildingReplicas: number;
  bytesLeft: number;
  rateBytesPerSec: number;
  etaSeconds: number;
}

export interface DegradedExtentJson {
  volume: string;
  index: number;
  epoch: number;
  replicationFactor: number;
  replicas: string[];
  upReplicas: number;
}

/** Chunk servers as metad knows them, with process ids from the cluster file when there is one. */
async function chunkServers(meta: MetaClient, pids: ReadonlyMap<string, number>): Promise<ChunkServerStatusJson[]> {
  const { servers } = await meta.call('listServers', {}, { timeoutMs: 5_000 });
  return servers.map((s) => ({
    id: s.id ?? '', address: s.address ?? '', zone: s.zone ?? '', state: s.state ?? '', capacityBytes: Number(s.capacityBytes ?? 0),
    freeBytes: Number(s.freeBytes ?? 0), extentCount: Number(s.extentCount ?? 0), lastHeartbeatMs: Number(s.lastHeartbeatMs ?? 0), pid: pids.get(s.id ?? '') ?? 0,
    repair: {
      copiesRunning: s.repair?.copiesRunning ?? 0, bytesLeft: Number(s.repair?.bytesLeft ?? 0),
      bytesCopied: Number(s.repair?.bytesCopied ?? 0), rateBytesPerSec: Number(s.repair?.rateBytesPerSec ?? 0),
    },
    scrubLastPassMs: Number(s.scrubLastPassMs), scrubRepairedBlocks: Number(s.scrubRepairedBlocks),
  }));
}

async function repairStatus(meta: MetaClient): Promise<RepairStatusJson> {
  const r = await meta.call('getRepairStatus', {}, { timeoutMs: 5_000 });
  return {
    allocatedExtents: Number(r.allocatedExtents), degradedExtents: Number(r.degradedExtents), criticalExtents: Number(r.criticalExtents),
    waitingExtents: Number(r.waitingExtents), rebuildingReplicas: Number(r.rebuildingReplicas), bytesLeft: Number(r.bytesLeft),
    rateBytesPerSec: Number(r.rateBytesPerSec), etaSeconds: Number(r.etaSeconds),
  };
}

async function degradedExtents(meta: MetaClient): Promise<{ total: number; extents: DegradedExtentJson[] }> {
  const reply = await meta.call('listDegradedExtents', { limit: degradedShownMax }, { timeoutMs: 5_000 });
  return {
    total: Number(reply.total),
    extents: reply.extents.map((e) => ({
      volume: e.volume ?? '', index: Number(e.index ?? 0), epoch: Number(e.epoch ?? 0), replicationFactor: e.replicationFactor ?? 0, replicas: [...(e.replicas ?? [])], upReplicas: e.upReplicas ?? 0,
    })),
  };
}

const degradedShownMax = 100;

/** Process ids of a local cluster's chunk servers (cluster.json), when the command found the cluster through one. */
function localPids(args: ParsedArgs, io: Io): Map<string, number> {
  return new Map((clusterFileOf(args, io)?.chunkd ?? []).map((c) => [c.id, c.pid]));
}

function printHuman(io: Io, members: MemberStatusJson[], servers: ChunkServerStatusJson[], degraded: { total: number; extents: DegradedExtentJson[] }, repair: RepairStatusJson | undefined): void {
  printTable(io, ['ID', 'ADDRESS', 'ROLE', 'TERM', 'APPLIED', 'PID', 'STATE'], members.map((m) => [
    m.id || '?', m.address, m.error ? 'unreachable' : m.role, String(m.term), String(m.appliedIndex), String(m.pid || '-'), m.error?.code ?? m.stateHash,
  ]));
  io.out('\n');
  printTable(io, ['CHUNK', 'ADDRESS', 'ZONE', 'STATE', 'CAPACITY', 'FREE', 'EXTENTS', 'COPYING', 'SCRUBBED', 'PID'], servers.map((c) => [
    c.id, c.address, c.zone, c.state, gib(c.capacityBytes), gib(c.freeBytes), String(c.extentCount),
    c.repair.copiesRunning > 0 ? `${c.repair.copiesRunning} (${mib(c.repair.bytesLeft)} left)` : '-',
    c.scrubLastPassMs > 0 ? ago(c.scrubLastPassMs) : 'never', String(c.pid || '-'),
  ]));
  if (repair !== undefined) io.out(`\n${repairLine(repair)}\n`);
  io.out(`\ndegraded extents: ${degraded.total}\n`);
  if (degraded.extents.length > 0) {
    printTable(io, ['VOLUME', 'EXTENT', 'EPOCH', 'REPLICAS', 'UP'], degraded.extents.map((e) => [e.volume, String(e.index), String(e.epoch), e.replicas.join(',') || '-', `${e.upReplicas}/${e.replicationFactor}`]));
  }
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)}GiB`;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)}MiB`;
}

function ago(ms: number): string {
  return `${Math.max(0, Math.round((Date.now() - ms) / 1000))}s ago`;
}

/** One line an operator reads first: is every extent at full redundancy, and if not, when. */
export function repairLine(r: RepairStatusJson): string {
  if (r.degradedExtents === 0 && r.rebuildingReplicas === 0) return `redundancy: full (${r.allocatedExtents} extents)`;
  const parts = [`redundancy: ${r.degradedExtents} of ${r.allocatedExtents} extents degraded (${r.criticalExtents} with one copy left)`];
  if (r.waitingExtents > 0) parts.push(`${r.waitingExtents} waiting for a down server to return or go out`);
  if (r.rebuildingReplicas > 0) parts.push(`${r.rebuildingReplicas} copies planned or running, ${mib(r.bytesLeft)} left at ${mib(r.rateBytesPerSec)}/s, ETA ${r.etaSeconds > 0 ? `${r.etaSeconds}s` : 'unknown'}`);
  return parts.join('; ');
}

const status: Command = {
  name: '', summary: 'show every metad member (role, term, applied index, process id), chunk server (state, copies, last scrub), redundancy with repair ETA, and degraded extents', usage: '[--json]',
  options: { ...clusterOptions, json: { type: 'boolean' } },
  run: (args, io) => withMeta(args, io, async (meta) => {
    const members = await clusterStatus(meta, resolveMetaEndpoints(args, io));
    const hasLeader = members.some((m) => m.role === 'leader');
    // Without a leader there is no linearizable view of servers and extents to show.
    const servers = hasLeader ? await chunkServers(meta, localPids(args, io)) : [];
    const degraded = hasLeader ? await degradedExtents(meta) : { total: 0, extents: [] };
    const repair = hasLeader ? await repairStatus(meta) : undefined;
    if (flag(args, 'json')) printJson(io, { members, chunkServers: servers, degradedExtents: degraded, ...(repair !== undefined && { repair }) });
    else printHuman(io, members, servers, degraded, repair);
    return hasLeader ? 0 : 1;
  }),
};

export const statusGroup: CommandGroup = { name: 'status', summary: 'cluster health', commands: [status] };
