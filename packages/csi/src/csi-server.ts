import { rm } from 'node:fs/promises';
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { BasaltClient } from '@basalt/client';
import { isBasaltError } from '@basalt/stdx';
import { csiControllerService, csiIdentityService, csiNodeService } from '@basalt/wire';
import { Code, codeForBasalt, CsiStatus } from './core/csi-status.js';
import { controllerHandlers } from './controller.js';
import { identityHandlers, type CsiMode } from './identity.js';
import { nodeHandlers, type NodeOptions } from './node.js';

export interface CsiServerOptions {
  /** unix:///path/to/csi.sock (a stale socket file there is removed first). */
  readonly endpoint: string;
  readonly mode: CsiMode;
  readonly client: BasaltClient;
  readonly version: string;
  /** Required for the node and both modes. */
  readonly node?: Omit<NodeOptions, 'client'>;
  readonly log: (line: string) => void;
}

export interface RunningCsiServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

/** The socket path of a unix:// endpoint; anything else is refused (CSI speaks over unix sockets). */
export function socketPathOf(endpoint: string): string {
  const match = /^unix:\/\/(\/.+)$/.exec(endpoint);
  if (match?.[1] === undefined) throw new CsiStatus(Code.invalidArgument, `endpoint must be unix:///absolute/path.sock, got ${JSON.stringify(endpoint)}`);
  return match[1];
}

/** Serves Identity, plus Controller and/or Node by mode, on the endpoint's unix socket. */
export async function startCsiServer(opts: CsiServerOptions): Promise<RunningCsiServer> {
  const socketPath = socketPathOf(opts.endpoint);
  await rm(socketPath, { force: true });
  const server = new Server();
  const probe = async (): Promise<void> => {
    await opts.client.listServers();
  };
  server.addService(csiIdentityService, wrap(identityHandlers(opts.mode, opts.version, probe), opts.log));
  if (opts.mode !== 'node') server.addService(csiControllerService, wrap(controllerHandlers(opts.client), opts.log));
  if (opts.mode !== 'controller') {
    if (opts.node === undefined) throw new CsiStatus(Code.invalidArgument, 'node mode needs the node options');
    server.addService(csiNodeService, wrap(nodeHandlers({ ...opts.node, client: opts.client }), opts.log));
  }
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${socketPath}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
  return {
    socketPath,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler takes its own decoded request type
type Handlers = Record<string, (req: any) => unknown>;

function wrap(handlers: Handlers, log: (line: string) => void): UntypedServiceImplementation {
  const out: UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(handlers)) {
    out[name] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
      Promise.resolve().then(() => handler(call.request)).then(
        (reply) => callback(null, reply),
        (err: unknown) => callback(statusOf(err, name, log)),
      );
    };
  }
  return out;
}

/** The gRPC status of a failed call: ours as is, the SDK's mapped, anything else INTERNAL (logged). */
function statusOf(err: unknown, method: string, log: (line: string) => void): { code: number; details: string } {
  if (err instanceof CsiStatus) return { code: err.code, details: err.message };
  if (isBasaltError(err)) return { code: codeForBasalt(err.code), details: `${err.code}: ${err.message}` };
  log(`csi ${method}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return { code: Code.internal, details: err instanceof Error ? err.message : String(err) };
}
