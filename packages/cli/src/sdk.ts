import { connect, type BasaltClient } from '@basalt/client';
import type { Io, ParsedArgs } from './command.js';
import { runningMetaEndpoints } from './cluster.js';

/** Runs `fn` with an SDK client of the command's cluster (found as for every command) and closes it. */
export async function withClient<T>(args: ParsedArgs, io: Io, fn: (client: BasaltClient) => Promise<T>): Promise<T> {
  const client = connect({ metad: await runningMetaEndpoints(args, io) });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}
