import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { BasaltError, ErrorCode, invalidArgument } from '@basalt/stdx';
import { parseHostPort } from '@basalt/wire';
import { flag, int, onePositional, str } from '../args.js';
import { resolveAgentAddress } from '../cluster.js';
import type { Command, CommandGroup } from '../command.js';

/**
 * `basalt attach` / `basalt detach`: connect the kernel's NBD client (Debian's `nbd-client`)
 * to a volume served by the agent, and disconnect it. docs/nbd.md explains when to use the
 * userspace clients instead.
 */

export interface AttachSpec {
  host: string;
  port: number;
  volume: string;
  device: string;
  readOnly: boolean;
  connections: number;
  tls?: { cert: string; key: string; ca: string };
}

const devicePattern = /^\/dev\/nbd\d+$/;

/** nbd-client's arguments for an attach; the kernel test in a VM runs exactly these. */
export function nbdClientAttachArgs(spec: AttachSpec): string[] {
  const args = [spec.host, String(spec.port), spec.device, '-N', spec.volume, '-block-size', '4096'];
  if (spec.connections > 1) args.push('-connections', String(spec.connections));
  if (spec.readOnly) args.push('-readonly');
  if (spec.tls !== undefined) args.push('-enable-tls', '-certfile', spec.tls.cert, '-keyfile', spec.tls.key, '-cacertfile', spec.tls.ca);
  return args;
}

export function nbdClientDetachArgs(device: string): string[] {
  return ['-d', device];
}

/** The first /dev/nbdN that no client holds (size 0 and no pid), from sysfs. */
export function findFreeDevice(sysBlock = '/sys/block'): string | undefined {
  const names = readdirSync(sysBlock).filter((n) => /^nbd\d+$/.test(n)).sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));
  const free = names.find((n) => !existsSync(`${sysBlock}/${n}/pid`) && readFileSync(`${sysBlock}/${n}/size`, 'utf8').trim() === '0');
  return free === undefined ? undefined : `/dev/${free}`;
}

function run(file: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 127;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

function nbdClientPath(): string {
  const found = ['/usr/sbin/nbd-client', '/sbin/nbd-client', '/usr/bin/nbd-client'].find((p) => existsSync(p));
  if (found === undefined) throw new BasaltError(ErrorCode.NotSupported, 'nbd-client is not installed: install the Debian package nbd-client');
  return found;
}

/** Loads the nbd driver if needed; a clear error when this kernel has none. */
async function ensureNbdModule(): Promise<void> {
  if (existsSync('/sys/module/nbd')) return;
  const probe = await run('/usr/sbin/modprobe', ['nbd']);
  if (probe.code !== 0 || !existsSync('/sys/module/nbd')) {
    throw new BasaltError(ErrorCode.NotSupported,
      `the kernel's nbd driver is not loaded and "modprobe nbd" failed${probe.output === '' ? '' : ` (${probe.output})`}. ` +
      'This kernel may have no NBD driver: use a userspace client instead (nbdfuse, qemu, nbdcopy; see docs/nbd.md).');
  }
}

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
    if (deviceFlag !== undefined && !devicePattern.test(deviceFlag)) throw invalidArgument(`--device must be /dev/nbdN, got "${deviceFlag}"`);
    const client = nbdClientPath();
    await ensureNbdModule();
    const device = deviceFlag ?? findFreeDevice();
    if (device === undefined) throw new BasaltError(ErrorCode.Unavailable, 'every /dev/nbdN is in use: detach one or load nbd with more devices (modprobe nbd nbds_max=N)');
    const [cert, key, ca] = tlsParts;
    const spec: AttachSpec = {
      host: agent.host, port: agent.port, volume, device, readOnly: flag(args, 'read-only'), connections: int(args, 'connections', 1, 16) ?? 1,
      ...(cert !== undefined && key !== undefined && ca !== undefined && { tls: { cert, key, ca } }),
    };
    const result = await run(client, nbdClientAttachArgs(spec));
    if (result.code !== 0) throw new BasaltError(ErrorCode.Io, `nbd-client could not attach ${volume} at ${device}: ${result.output}`, { volume, device });
    io.out(`attached ${volume} at ${device}${spec.readOnly ? ' (read-only)' : ''}; detach with: basalt detach ${device}\n`);
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
    if (!devicePattern.test(device)) throw invalidArgument(`expected a device such as /dev/nbd0, got "${device}"`);
    const result = await run(nbdClientPath(), nbdClientDetachArgs(device));
    if (result.code !== 0) throw new BasaltError(ErrorCode.Io, `nbd-client could not detach ${device}: ${result.output}`, { device });
    io.out(`detached ${device}\n`);
    return 0;
  },
};

export const attachGroup: CommandGroup = { name: 'attach', summary: 'attach a volume as /dev/nbdN', commands: [attach] };
export const detachGroup: CommandGroup = { name: 'detach', summary: 'detach /dev/nbdN', commands: [detach] };
