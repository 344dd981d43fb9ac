import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { BasaltError, ErrorCode, invalidArgument } from '@basalt/stdx';

/**
 * Attaching a volume as a kernel block device: the kernel's NBD client (Debian's `nbd-client`)
 * connects /dev/nbdN to a volume that an agent serves. docs/nbd.md says when to use the
 * userspace clients instead. Needs root.
 */

export interface AttachSpec {
  /** The agent's NBD listener. */
  host: string;
  port: number;
  volume: string;
  /** /dev/nbdN; attachVolumeDevice picks the first free one when absent. */
  device: string;
  readOnly: boolean;
  /** NBD connections (multi-conn), 1..16. */
  connections: number;
  tls?: { cert: string; key: string; ca: string };
}

const devicePattern = /^\/dev\/nbd\d+$/;

/** True for a name such as /dev/nbd0. */
export function isNbdDevice(device: string): boolean {
  return devicePattern.test(device);
}

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

/**
 * Attaches a volume at `spec.device` (or the first free /dev/nbdN) and returns the device.
 * BASALT_NOT_SUPPORTED without nbd-client or the kernel's nbd driver; BASALT_UNAVAILABLE when
 * every device is taken; BASALT_IO when nbd-client fails (its output is in the message).
 */
export async function attachVolumeDevice(spec: Omit<AttachSpec, 'device'> & { device?: string }): Promise<string> {
  if (spec.device !== undefined && !isNbdDevice(spec.device)) throw invalidArgument(`device must be /dev/nbdN, got "${spec.device}"`);
  if (!Number.isInteger(spec.connections) || spec.connections < 1 || spec.connections > 16) throw invalidArgument(`connections must be 1..16, got ${spec.connections}`);
  const client = nbdClientPath();
  await ensureNbdModule();
  const device = spec.device ?? findFreeDevice();
  if (device === undefined) throw new BasaltError(ErrorCode.Unavailable, 'every /dev/nbdN is in use: detach one or load nbd with more devices (modprobe nbd nbds_max=N)');
  const result = await run(client, nbdClientAttachArgs({ ...spec, device }));
  if (result.code !== 0) throw new BasaltError(ErrorCode.Io, `nbd-client could not attach ${spec.volume} at ${device}: ${result.output}`, { volume: spec.volume, device });
  return device;
}

/** Disconnects /dev/nbdN (BASALT_IO with nbd-client's output when it fails). */
export async function detachVolumeDevice(device: string): Promise<void> {
  if (!isNbdDevice(device)) throw invalidArgument(`expected a device such as /dev/nbd0, got "${device}"`);
  const result = await run(nbdClientPath(), nbdClientDetachArgs(device));
  if (result.code !== 0) throw new BasaltError(ErrorCode.Io, `nbd-client could not detach ${device}: ${result.output}`, { device });
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
