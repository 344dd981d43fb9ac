import type { BasaltError } from '@basalt/stdx';
import type { MetaClient, pb } from '@basalt/wire';
import { flag } from '../args.js';
import { clusterOptions, resolveMetaEndpoints, withMeta } from '../cluster.js';
import type { Command, CommandGroup } from '../command.js';
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
      return statusJson(await meta.call('status', {}, { address, timeoutMs: 3_000 }));
    } catch (err) {
      const e = err as BasaltError;
      return { ...statusJson({ address } as pb.StatusReply), error: { code: e.code, message: e.message } };
    }
  }));
}

function statusJson(s: pb.StatusReply): MemberStatusJson {
  return {
    id: s.id ?? '', address: s.address ?? '', role: s.role ?? '', term: s.term ?? 0, commitIndex: s.commitIndex ?? 0,
    appliedIndex: s.appliedIndex ?? 0, pid: s.pid ?? 0, leaderId: s.leaderId ?? '', stateHash: s.stateHash ?? '', snapshotIndex: s.snapshotIndex ?? 0,
  };
}

const status: Command = {
  name: '', summary: 'show every metad member: role, term, applied index, process id', usage: '[--json]',
  options: { ...clusterOptions, json: { type: 'boolean' } },
  run: (args, io) => withMeta(args, io, async (meta) => {
    const members = await clusterStatus(meta, resolveMetaEndpoints(args, io));
    if (flag(args, 'json')) printJson(io, { members });
    else printTable(io, ['ID', 'ADDRESS', 'ROLE', 'TERM', 'APPLIED', 'PID', 'STATE'], members.map((m) => [
      m.id || '?', m.address, m.error ? 'unreachable' : m.role, String(m.term), String(m.appliedIndex), String(m.pid || '-'), m.error?.code ?? m.stateHash,
    ]));
    return members.some((m) => m.role === 'leader') ? 0 : 1;
  }),
};

export const statusGroup: CommandGroup = { name: 'status', summary: 'cluster health', commands: [status] };
