import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Code, CsiStatus } from './core/csi-status.js';

/** Commands on the node (mkfs, mount, umount, blkid, resize): each bounded in time. */
const commandTimeoutMs = 120_000;

/** Runs a command; INTERNAL with its output when it fails. */
export async function runCommand(argv: readonly [string, ...string[]]): Promise<string> {
  const result = await tryCommand(argv);
  if (result.code !== 0) throw new CsiStatus(Code.internal, `${argv.join(' ')} failed (${result.code}): ${result.output}`);
  return result.output;
}

/** Runs a command and returns its exit code and output, failing or not. */
export function tryCommand(argv: readonly [string, ...string[]]): Promise<{ code: number; output: string }> {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    execFile(file, args, { timeout: commandTimeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 127;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

/** Whether path is a mount point (an entry of /proc/self/mountinfo). */
export async function isMountPoint(path: string): Promise<boolean> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').some((line) => unescapeMountPath(line.split(' ')[4] ?? '') === path);
}

function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The filesystem type on device ('' when it has none: blkid exits 2). */
export async function filesystemOf(device: string): Promise<string> {
  const result = await tryCommand(['blkid', '-o', 'value', '-s', 'TYPE', device]);
  if (result.code === 2) return '';
  if (result.code !== 0) throw new CsiStatus(Code.internal, `blkid ${device} failed (${result.code}): ${result.output}`);
  return result.output.trim();
}

/** The size of an attached block device such as /dev/nbd0, from sysfs (512-byte sectors). */
export async function deviceSizeBytes(device: string): Promise<number> {
  const name = device.split('/').at(-1) ?? '';
  const sectors = await readFile(`/sys/block/${name}/size`, 'utf8').catch(() => null);
  if (sectors === null) throw new CsiStatus(Code.internal, `${device} has no size in /sys/block: is it attached?`);
  return Number(sectors.trim()) * 512;
}
