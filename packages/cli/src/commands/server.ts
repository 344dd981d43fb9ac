import type { MetaClient, MetaReply } from '@basalt/wire';
import { flag, onePositional } from '../args.js';
import { clusterOptions, withMeta } from '../cluster.js';
import type { Command, CommandGroup } from '../command.js';
import { printJson } from '../output.js';

/**
 * `basalt server`: the operator's verbs on chunk servers (docs/data-path.md, "Healing"). metad's
 * leader decides every replica-set change; these only tell it what the operator wants.
 */

type ServerReply = MetaReply<'drainServer'>;

function verb(name: string, summary: string, call: (meta: MetaClient, id: string) => Promise<ServerReply>, after: (id: string, extents: number) => string): Command {
  return {
    name, summary, usage: 'ID [--json]', positionals: true,
    options: { ...clusterOptions, json: { type: 'boolean' } },
    run: (args, io) => withMeta(args, io, async (meta) => {
      const id = onePositional(args, 'chunk server id');
      const { server } = await call(meta, id);
      const state = server?.state ?? '';
      const extents = Number(server?.extentCount ?? 0);
      if (flag(args, 'json')) printJson(io, { id, state, extentCount: extents });
      else io.out(`server ${id}: ${state || 'removed'}. ${after(id, extents)}\n`);
      return 0;
    }),
  };
}

const drain = verb(
  'drain', 'move every replica off a chunk server (copies first; the server keeps serving until each copy is promoted)',
  (meta, id) => meta.call('drainServer', { id, drain: true }),
  (id, n) => `${n} replica(s) to move; watch "basalt status" until it holds none, then "basalt server remove ${id}".`,
);

const undrain = verb(
  'undrain', 'end draining: the server takes new replicas again',
  (meta, id) => meta.call('drainServer', { id, drain: false }),
  () => 'It takes new replicas again.',
);

const out = verb(
  'out', 'treat a chunk server as lost now: its replicas are rebuilt on the others (instead of after the down-out interval)',
  (meta, id) => meta.call('markServerOut', { id }),
  (_id, n) => `${n} replica(s) to rebuild elsewhere; "basalt status" shows progress and ETA.`,
);

const remove = verb(
  'remove', 'forget a chunk server (refused while it holds the only good copy of any extent)',
  (meta, id) => meta.call('removeServer', { id }),
  () => 'It is no longer part of the cluster; its data folder may be deleted.',
);

export const serverGroup: CommandGroup = { name: 'server', summary: 'chunk servers: drain, undrain, out, remove', commands: [drain, undrain, out, remove] };
