import type { CreateTenantOptions, TenantInfo } from '@basalt/client';
import { invalidArgument, limits } from '@basalt/stdx';
import { flag, formatBytes, int, onePositional, size } from '../args.js';
import { clusterOptions } from '../cluster.js';
import type { Command, CommandGroup, ParsedArgs } from '../command.js';
import { printJson, printTable } from '../output.js';
import { withClient } from '../sdk.js';

/** `basalt tenant`: tenants own volumes, with quotas on bytes and volume count (docs/security.md). */

const json = { json: { type: 'boolean' } } as const;

function quota(max: number, format: (n: number) => string): string {
  return max === 0 ? 'no limit' : format(max);
}

/** `--max-bytes` and `--max-volumes` as the SDK takes them (absent: no limit). */
function quotaFlags(args: ParsedArgs): CreateTenantOptions {
  const maxBytes = size(args, 'max-bytes');
  const maxVolumes = int(args, 'max-volumes', 1, limits.volumesMax);
  return { ...(maxBytes !== undefined && { maxBytes }), ...(maxVolumes !== undefined && { maxVolumes }) };
}

const create: Command = {
  name: 'create', summary: 'create a tenant, with quotas on the sum of its volume sizes and on its volume count (admin)',
  usage: 'NAME [--max-bytes SIZE] [--max-volumes N] [--json]', positionals: true,
  options: { ...clusterOptions, ...json, 'max-bytes': { type: 'string' }, 'max-volumes': { type: 'string' } },
  run: (args, io) => withClient(args, io, async (client) => {
    const t = await client.createTenant(onePositional(args, 'tenant name'), quotaFlags(args));
    if (flag(args, 'json')) printJson(io, t);
    else io.out(`created tenant ${t.name}: at most ${quota(t.maxBytes, formatBytes)} in ${quota(t.maxVolumes, String)} volume(s)\n`);
    return 0;
  }),
};

const set: Command = {
  name: 'set', summary: 'replace a tenant\'s quotas; a flag left out means no limit (admin)',
  usage: 'NAME [--max-bytes SIZE] [--max-volumes N] [--json]', positionals: true,
  options: { ...clusterOptions, ...json, 'max-bytes': { type: 'string' }, 'max-volumes': { type: 'string' } },
  run: (args, io) => withClient(args, io, async (client) => {
    const t = await client.setTenantQuota(onePositional(args, 'tenant name'), quotaFlags(args));
    if (flag(args, 'json')) printJson(io, t);
    else io.out(`tenant ${t.name}: at most ${quota(t.maxBytes, formatBytes)} in ${quota(t.maxVolumes, String)} volume(s); it uses ${formatBytes(t.sizeBytes)} in ${t.volumes}\n`);
    return 0;
  }),
};

const ls: Command = {
  name: 'ls', summary: 'list tenants with quotas and usage (a client: its own)', usage: '[--json]', options: { ...clusterOptions, ...json },
  run: (args, io) => withClient(args, io, async (client) => {
    const tenants: TenantInfo[] = await client.listTenants();
    if (flag(args, 'json')) printJson(io, tenants);
    else printTable(io, ['TENANT', 'VOLUMES', 'MAX VOLUMES', 'SIZE', 'MAX SIZE'], tenants.map((t) => [
      t.name, String(t.volumes), quota(t.maxVolumes, String), formatBytes(t.sizeBytes), quota(t.maxBytes, formatBytes),
    ]));
    return 0;
  }),
};

const rm: Command = {
  name: 'rm', summary: 'remove a tenant that owns no volume (admin)', usage: 'NAME [--json]', positionals: true, options: { ...clusterOptions, ...json },
  run: (args, io) => withClient(args, io, async (client) => {
    const name = onePositional(args, 'tenant name');
    if (name === 'default') throw invalidArgument('the default tenant always exists and cannot be removed');
    await client.deleteTenant(name);
    if (flag(args, 'json')) printJson(io, { deleted: name });
    else io.out(`removed tenant ${name}\n`);
    return 0;
  }),
};

export const tenantGroup: CommandGroup = { name: 'tenant', summary: 'tenants and their quotas: create, set, ls, rm', commands: [create, set, ls, rm] };
