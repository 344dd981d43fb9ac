import type { BasaltClient, DegradedExtent, MemberStatus, RepairStatus, ServerInfo } from '@basalt/client';
import { humanBytes } from '@basalt/stdx';
import { flag } from '../args.js';
import { clusterFileOf, clusterOptions, resolveMetaEndpoints, resolveSecurity } from '../cluster.js';
import type { Command, CommandGroup, Io, ParsedArgs } from '../command.js';
import { printJson, printTable } from '../output.js';
import { withClient } from '../sdk.js';

/** A chunk server as `basalt status --json` prints it: the SDK's view plus its local process id. */
export interface ChunkServerStatusJson extends ServerInfo {
  /** From the local cluster file (basalt up); 0 when unknown (a cluster not started here). */
  pid: number;
}

/** Chunk servers as metad knows them, with process ids from the cluster file when there is one. */
async function chunkServers(client: BasaltClient, pids: ReadonlyMap<string, number>): Promise<ChunkServerStatusJson[]> {
  return (await client.listServers()).map((s) => ({ ...s, pid: pids.get(s.id) ?? 0 }));
}

/** A volume's size and what it takes on disk, as `basalt status --json` prints it. */
export interface VolumeStoredJson {
  name: string;
  sizeBytes: number;
  allocatedExtents: number;
  replicationFactor: number;
  /** On disk, summed over every replica (VolumeInfo.storedBytes). */
  storedBytes: number;
}

async function volumesStored(client: BasaltClient): Promise<VolumeStoredJson[]> {
  return (await client.listVolumes()).map((v) => ({ name: v.name, sizeBytes: v.sizeBytes, allocatedExtents: v.allocatedExtents, replicationFactor: v.replicationFactor, storedBytes: v.storedBytes }));
}

const degradedShownMax = 100;
const volumesShownMax = 20;

/** Process ids of a local cluster's chunk servers (cluster.json), when the command found the cluster through one. */
function localPids(args: ParsedArgs, io: Io): Map<string, number> {
  return new Map((clusterFileOf(args, io)?.chunkd ?? []).map((c) => [c.id, c.pid]));
}

function printHuman(io: Io, secure: boolean, members: readonly MemberStatus[], servers: ChunkServerStatusJson[], volumes: readonly VolumeStoredJson[], degraded: { total: number; extents: DegradedExtent[] }, repair: RepairStatus | undefined): void {
  io.out(secure ? 'transport: mutual TLS\n\n' : 'transport: INSECURE (no TLS: anyone who reaches a port is trusted with everything)\n\n');
  printTable(io, ['ID', 'ADDRESS', 'ROLE', 'TERM', 'APPLIED', 'PID', 'STATE'], members.map((m) => [
    m.id || '?', m.address, m.error ? 'unreachable' : m.role, String(m.term), String(m.appliedIndex), String(m.pid || '-'), m.error?.code ?? m.stateHash,
  ]));
  io.out('\n');
  printTable(io, ['CHUNK', 'ADDRESS', 'ZONE', 'STATE', 'CAPACITY', 'FREE', 'EXTENTS', 'COPYING', 'SCRUBBED', 'PID'], servers.map((c) => [
    c.id, c.address, c.zone, c.state, gib(c.capacityBytes), gib(c.freeBytes), String(c.extentCount),
    c.repair.copiesRunning > 0 ? `${c.repair.copiesRunning} (${mib(c.repair.bytesLeft)} left)` : '-',
    c.scrubLastPassMs > 0 ? ago(c.scrubLastPassMs) : 'never', String(c.pid || '-'),
  ]));
  if (volumes.length > 0) {
    const largest = [...volumes].sort((a, b) => b.storedBytes - a.storedBytes).slice(0, volumesShownMax);
    io.out('\n');
    printTable(io, ['VOLUME', 'SIZE', 'REPLICAS', 'EXTENTS', 'STORED'], largest.map((v) => [v.name, humanBytes(v.sizeBytes), String(v.replicationFactor), String(v.allocatedExtents), humanBytes(v.storedBytes)]));
    if (volumes.length > largest.length) io.out(`(the ${largest.length} that store the most of ${volumes.length} volumes; "basalt volume ls" lists all)\n`);
  }
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
export function repairLine(r: RepairStatus): string {
  if (r.degradedExtents === 0 && r.rebuildingReplicas === 0) return `redundancy: full (${r.allocatedExtents} extents)`;
  const parts = [`redundancy: ${r.degradedExtents} of ${r.allocatedExtents} extents degraded (${r.criticalExtents} with one copy left)`];
  if (r.waitingExtents > 0) parts.push(`${r.waitingExtents} waiting for a down server to return or go out`);
  if (r.rebuildingReplicas > 0) parts.push(`${r.rebuildingReplicas} copies planned or running, ${mib(r.bytesLeft)} left at ${mib(r.rateBytesPerSec)}/s, ETA ${r.etaSeconds > 0 ? `${r.etaSeconds}s` : 'unknown'}`);
  return parts.join('; ');
}

const status: Command = {
  name: '', summary: 'show every metad member (role, term, applied index, process id), chunk server (state, copies, last scrub), volume (bytes stored), redundancy with repair ETA, and degraded extents', usage: '[--json]',
  options: { ...clusterOptions, json: { type: 'boolean' } },
  run: (args, io) => withClient(args, io, async (client) => {
    const members = await client.memberStatuses(resolveMetaEndpoints(args, io), { stateHash: true });
    const hasLeader = members.some((m) => m.role === 'leader');
    // Without a leader there is no linearizable view of servers and extents to show.
    const servers = hasLeader ? await chunkServers(client, localPids(args, io)) : [];
    const degraded = hasLeader ? await client.degradedExtents(degradedShownMax) : { total: 0, extents: [] };
    const repair = hasLeader ? await client.repairStatus() : undefined;
    const volumes = hasLeader ? await volumesStored(client) : [];
    const secure = resolveSecurity(args, io).secure;
    if (flag(args, 'json')) printJson(io, { transport: secure ? 'mtls' : 'insecure', members, chunkServers: servers, volumes, degradedExtents: degraded, ...(repair !== undefined && { repair }) });
    else printHuman(io, secure, members, servers, volumes, degraded, repair);
    return hasLeader ? 0 : 1;
  }),
};

export const statusGroup: CommandGroup = { name: 'status', summary: 'cluster health', commands: [status] };
