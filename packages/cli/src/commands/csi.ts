import { hostname } from 'node:os';
import { connect } from '@basalt/client';
import { startCsiServer, type CsiMode } from '@basalt/csi';
import { invalidArgument, logLine } from '@basalt/stdx';
import { parseHostPort } from '@basalt/wire';
import { int, str } from '../args.js';
import { clusterOptions, resolveMetaEndpoints, resolveSecurity } from '../cluster.js';
import type { Command, CommandGroup } from '../command.js';
import { keyProviderOf } from '../kek.js';
import { defaultNbdListen } from '../local/layout.js';

const modes: readonly CsiMode[] = ['controller', 'node', 'both'];

/** `basalt csi`: the Kubernetes CSI driver (docs/kubernetes.md). */
const csi: Command = {
  name: '',
  summary: 'serve the CSI driver on a unix socket (Ctrl-C or SIGTERM stops it)',
  usage: `--metad HOST:PORT,... --mode controller|node|both --endpoint unix:///PATH.sock [--node-id NAME (hostname)] [--zone ZONE] [--agent HOST:PORT (${defaultNbdListen})] [--read-only-agent HOST:PORT (read-only stages)] [--state-dir DIR (/var/lib/basalt-csi)] [--connections N (4)]`,
  options: {
    ...clusterOptions,
    mode: { type: 'string' }, endpoint: { type: 'string' }, 'node-id': { type: 'string' }, zone: { type: 'string' },
    agent: { type: 'string' }, 'read-only-agent': { type: 'string' }, 'state-dir': { type: 'string' }, connections: { type: 'string' },
  },
  run: async (args, io) => {
    const mode = modes.find((m) => m === str(args, 'mode'));
    if (mode === undefined) throw invalidArgument(`--mode must be one of ${modes.join(', ')}`);
    const endpoint = str(args, 'endpoint');
    if (endpoint === undefined) throw invalidArgument('--endpoint unix:///path.sock is required');
    const agent = parseHostPort(str(args, 'agent') ?? defaultNbdListen, '--agent');
    const readOnlyListen = str(args, 'read-only-agent');
    const readOnlyAgent = readOnlyListen === undefined ? undefined : parseHostPort(readOnlyListen, '--read-only-agent');
    const nodeId = str(args, 'node-id') ?? hostname();
    const keyProvider = keyProviderOf(args, io);
    const client = connect({ metad: resolveMetaEndpoints(args, io), security: resolveSecurity(args, io), clientId: `csi-${mode}@${nodeId}/${process.pid}`, ...(keyProvider !== undefined && { keyProvider }) });
    const running = await startCsiServer({
      endpoint,
      mode,
      client,
      version: '0.1.0',
      node: {
        nodeId, zone: str(args, 'zone') ?? '', agent,
        ...(readOnlyAgent !== undefined && { readOnlyAgent }),
        stateDir: str(args, 'state-dir') ?? '/var/lib/basalt-csi', connections: int(args, 'connections', 1, 16) ?? 4,
      },
      log: (m) => io.err(logLine(m)),
    });
    io.out(`basalt csi: ${mode} on unix://${running.socketPath}\n`);
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        io.err(`basalt csi: ${signal}: shutting down\n`);
        void running.close().then(() => {
          client.close();
          resolve();
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    return 0;
  },
};

export const csiGroup: CommandGroup = { name: 'csi', summary: 'the Kubernetes CSI driver', commands: [csi] };
