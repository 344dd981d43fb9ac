import { attachVolumeDevice, detachVolumeDevice, isNbdDevice } from '@basalt/client';
import { invalidArgument } from '@basalt/stdx';
import { parseHostPort } from '@basalt/wire';
import { flag, int, onePositional, str } from '../args.js';
import { resolveAgentAddress } from '../cluster.js';
import type { Command, CommandGroup } from '../command.js';

/**
 * `basalt attach` / `basalt detach`: the SDK's kernel attach helpers (attachVolumeDevice,
 * detachVolumeDevice) with the agent found as for every command. docs/nbd.md explains when to
 * use the userspace clients instead.
 */

const attach: Command = {
  name: '',
  summary: "attach a volume as a block device through the kernel's NBD client (root)",
  usage: 'VOLUME [--device /dev/nbdN] [--agent HOST:PORT] [--read-only] [--connections N] [--tls-cert PEM --tls-key PEM --tls-ca PEM]',
  positionals: true,
  options: {
    cluster: { type: 'string' }, agent: { type: 'string' }, device: { type: 'string' }, 'read-only': { type: 'boolean' }, connections: { type: 'string' },
    'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, 'tls-ca': { type: 'string' },
  },
  run: async (args, io) => {
    const volume = onePositional(args, 'volume name');
    const agent = parseHostPort(resolveAgentAddress(args, io), '--agent');
    const tlsParts = [str(args, 'tls-cert'), str(args, 'tls-key'), str(args, 'tls-ca')];
    if (tlsParts.some((p) => p !== undefined) && tlsParts.some((p) => p === undefined)) throw invalidArgument('--tls-cert, --tls-key and --tls-ca go together');
    const deviceFlag = str(args, 'device');
    if (deviceFlag !== undefined && !isNbdDevice(deviceFlag)) throw invalidArgument(`--device must be /dev/nbdN, got "${deviceFlag}"`);
    const [cert, key, ca] = tlsParts;
    const readOnly = flag(args, 'read-only');
    const device = await attachVolumeDevice({
      host: agent.host, port: agent.port, volume, readOnly, connections: int(args, 'connections', 1, 16) ?? 1,
      ...(deviceFlag !== undefined && { device: deviceFlag }),
      ...(cert !== undefined && key !== undefined && ca !== undefined && { tls: { cert, key, ca } }),
    });
    io.out(`attached ${volume} at ${device}${readOnly ? ' (read-only)' : ''}; detach with: basalt detach ${device}\n`);
    return 0;
  },
};

const detach: Command = {
  name: '',
  summary: 'detach a block device attached with "basalt attach" (root)',
  usage: '/dev/nbdN',
  positionals: true,
  options: {},
  run: async (args, io) => {
    const device = onePositional(args, 'device');
    await detachVolumeDevice(device);
    io.out(`detached ${device}\n`);
    return 0;
  },
};

export const attachGroup: CommandGroup = { name: 'attach', summary: 'attach a volume as /dev/nbdN', commands: [attach] };
export const detachGroup: CommandGroup = { name: 'detach', summary: 'detach /dev/nbdN', commands: [detach] };
