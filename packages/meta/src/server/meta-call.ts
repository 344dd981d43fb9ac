import { BasaltError, ErrorCode } from '@basalt/stdx';
import type { MetaMetrics } from './metrics.js';

/** How one Meta call ended: the handler's reply, or the error the caller is told. */
export type MetaCallOutcome =
  | { readonly ok: true; readonly reply: unknown }
  | { readonly ok: false; readonly error: BasaltError };

/**
 * Runs one Meta call as both of metad's API transports do (gRPC, grpc-server.ts; frames,
 * meta-call-receiver.ts): `run` proves the caller and calls the handler; the outcome is counted
 * per method (`metrics.countRpc`) and an error that is not a BasaltError is a bug, logged and
 * reported as BASALT_IO.
 */
export async function runMetaCall(method: string, run: () => Promise<unknown>, metrics: MetaMetrics, log: (line: string) => void): Promise<MetaCallOutcome> {
  try {
    const reply = await run();
    metrics.countRpc(method, 'OK');
    return { ok: true, reply };
  } catch (err) {
    const error = asBasaltError(err, log);
    metrics.countRpc(method, error.code);
    return { ok: false, error };
  }
}

/** A non-Basalt error here is a bug in metad: logged with its stack, reported as BASALT_IO. */
export function asBasaltError(err: unknown, log: (line: string) => void): BasaltError {
  if (err instanceof BasaltError) return err;
  log(`metad: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return new BasaltError(ErrorCode.Io, `internal error: ${err instanceof Error ? err.message : String(err)}`);
}
