import type { AuditEntry } from '@basalt/client';
import { invalidArgument, limits } from '@basalt/stdx';
import { flag, int, str } from '../args.js';
import { clusterOptions } from '../cluster.js';
import type { Command, CommandGroup } from '../command.js';
import { printJson, printTable } from '../output.js';
import { withClient } from '../sdk.js';

const units: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** --since: a time ago ("30s", "15m", "2h", "7d") or an ISO 8601 time; ms since the Unix epoch. */
export function parseSinceMs(text: string, nowMs: number): number {
  const ago = /^(\d+)([smhd])$/.exec(text);
  if (ago) return Math.max(0, nowMs - Number(ago[1]) * (units[ago[2] as string] as number));
  const at = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(at)) throw invalidArgument(`--since must be a time ago such as 30s, 15m, 2h, 7d, or an ISO time such as 2026-01-31T12:00:00Z, got "${text}"`, { since: text });
  return at;
}

function who(e: AuditEntry): string {
  return `${e.role}/${e.name}${e.tenant === '' ? '' : `@${e.tenant}`}`;
}

const audit: Command = {
  name: '', summary: 'show metad\'s audit log: who did what to volumes, tenants and servers, when, and how it ended (admin)',
  usage: '[--since 1h|ISO-TIME] [--limit N] [--json]',
  options: { ...clusterOptions, json: { type: 'boolean' }, since: { type: 'string' }, limit: { type: 'string' } },
  run: (args, io) => withClient(args, io, async (client) => {
    const since = str(args, 'since');
    const limit = int(args, 'limit', 1, limits.auditReplyEntriesMax);
    const onUnreachable = (address: string, err: Error): void => io.err(`warning: member ${address} did not answer (${err.message}); its part of the log is left out\n`);
    const entries = await client.auditLog({ onUnreachable, ...(since !== undefined && { sinceMs: parseSinceMs(since, Date.now()) }), ...(limit !== undefined && { limit }) });
    if (flag(args, 'json')) printJson(io, entries);
    else printTable(io, ['TIME', 'WHO', 'WHAT', 'TARGET', 'OUTCOME'], entries.map((e) => [new Date(e.atMs).toISOString(), who(e), e.method, e.target || '-', e.outcome]));
    return 0;
  }),
};

export const auditGroup: CommandGroup = { name: 'audit', summary: 'the audit log of admin and tenant operations', commands: [audit] };
