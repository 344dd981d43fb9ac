import type { BasaltClient, ServerInfo } from '@basalt/client';
import { flag, onePositional } from '../args.js';
import { clusterOptions } from '../cluster.js';
import type { Command, CommandGroup } from '../command.js';
import { printJson } from '../output.js';
import { withClient } from '../sdk.js';

/**
 * `basalt server`: the operator's verbs on chunk servers (docs/data-path.md, "Healing"). metad's
 * leader decides every replica-set change; these only tell it what the operator wants.
 */

function verb(name: string, summary: string, call: (client: BasaltClient, id: string) => Promise<ServerInfo>, after: (id: string, extents: number) => string): Command {
  return {
    name, summary, usage: 'ID [--json]', positionals: true,
    options: { ...clusterOptions, json: { type: 'boolean' } },
    run: (args, io) => withClient(args, io, async (client) => {
      const id = onePositional(args, 'chunk server id');
      const { state, extentCount } = await call(client, id);
      if (flag(args, 'json')) printJson(io, { id, state, extentCount });
      else io.out(`server ${id}: ${state}. ${after(id, extentCount)}\n`);
      return 0;
    }),
  };
}

const drain = verb(
  'drain', 'move every replica off a chunk server (copies first; the server keeps serving until each copy is promoted)',
  (client, id) => client.drainServer(id, true),
  (id, n) => `${n} replica(s) to move; watch "basalt status" until it holds none, then "basalt server remove ${id}".`,
);

const undrain = verb(
  'undrain', 'end draining: the server takes new replicas again',
  (client, id) => client.drainServer(id, false),
  () => 'It takes new replicas again.',
);

const out = verb(
  'out', 'treat a chunk server as lost now: its replicas are rebuilt on the others (instead of after the down-out interval)',
  (client, id) => client.markServerOut(id),
  (_id, n) => `${n} replica(s) to rebuild elsewhere; "basalt status" shows progress and ETA.`,
);

const remove = verb(
  'remove', 'forget a chunk server (refused while it holds the only good copy of any extent)',
  (client, id) => client.removeServer(id),
  () => 'It is no longer part of the cluster; its data folder may be deleted.',
);

export const serverGroup: CommandGroup = { name: 'server', summary: 'chunk servers: drain, undrain, out, remove', commands: [drain, undrain, out, remove] };
