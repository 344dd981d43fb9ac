import { connect, type BasaltClient } from '@basalt/client';
import type { Io, ParsedArgs } from './command.js';
import { str } from './args.js';
import { parseTimeoutMs, resolveSecurity, runningMetaEndpoints } from './cluster.js';
import { keyProviderOf } from './kek.js';

/**
 * Runs `fn` with an SDK client of the command's cluster (found and checked as by
 * runningMetaEndpoints; --timeout bounds each metad call) and closes it.
 */
export async function withClient<T>(args: ParsedArgs, io: Io, fn: (client: BasaltClient) => Promise<T>): Promise<T> {
  const timeout = str(args, 'timeout');
  const keyProvider = keyProviderOf(args, io);
  const client = connect({ metad: await runningMetaEndpoints(args, io), security: resolveSecurity(args, io), ...(timeout !== undefined && { metaTimeoutMs: parseTimeoutMs(timeout) }), ...(keyProvider !== undefined && { keyProvider }) });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}
