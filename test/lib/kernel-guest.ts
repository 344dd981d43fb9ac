/**
 * A Linux guest for tests that need a real kernel (this host's kernel has no nbd driver):
 * Debian's kernel in qemu-system-x86_64 under TCG, booted from an initramfs built here from the
 * host's own files (busybox, kernel modules, binaries with their libraries), optionally with host
 * folders shared read-only over 9p. The guest reaches the host's loopback as 10.0.2.2 (slirp)
 * and writes to its serial console, which bootGuest returns.
 *
 *   const version = kernelVersion();
 *   const mods = moduleFiles(modulePaths(version, ['nbd', 'virtio_net']));
 *   const script = `#!/bin/busybox sh\n...\n${insmodLine(mods.guestPaths)}\n...\npoweroff -f\n`;
 *   writeInitramfs(path, [consoleDevice, file('bin/busybox', ...), file('init', Buffer.from(script)), ...mods.entries]);
 *   const { console } = await bootGuest({ version, initrd: path, timeoutMs: 280_000 });
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, readFileSync, readdirSync, writeFileSync } from 'node:fs';

export type Entry = { name: string; mode: number; data?: Buffer; rdev?: [number, number] };

/** A cpio "newc" archive, the initramfs format the kernel unpacks. */
export function cpio(entries: readonly Entry[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  let ino = 1;
  const all: Entry[] = [...entries, { name: 'TRAILER!!!', mode: 0 }];
  for (const e of all) {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const rdev = e.rdev ?? [0, 0];
    const header = '070701' + [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], name.length, 0].map(hex).join('');
    parts.push(Buffer.from(header), name, pad(110 + name.length), data, pad(data.length));
  }
  return Buffer.concat(parts);
}

export const dir = (name: string): Entry => ({ name, mode: 0o40755 });
export const file = (name: string, data: Buffer, mode = 0o100755): Entry => ({ name, mode, data });
export const symlink = (name: string, target: string): Entry => ({ name, mode: 0o120777, data: Buffer.from(target) });
export const consoleDevice: Entry = { name: 'dev/console', mode: 0o20600, rdev: [5, 1] };

/** A host binary and the shared libraries `ldd` says it loads, at the same paths. */
export function withLibraries(binary: string, as: string): Entry[] {
  const out = [file(as, readFileSync(binary))];
  for (const line of execFileSync('ldd', [binary]).toString().split('\n')) {
    const m = /(\/\S+) \(0x/.exec(line);
    if (m) out.push(file(m[1]!.slice(1), readFileSync(m[1]!)));
  }
  return out;
}

/** The newest Debian kernel in /lib/modules (its image is /boot/vmlinuz-VERSION). */
export function kernelVersion(): string {
  const versions = readdirSync('/lib/modules').filter((v) => v.endsWith('-amd64'));
  if (versions.length === 0) throw new Error('no Debian kernel: install linux-image-amd64 (see scripts/system-packages.txt)');
  return versions.sort().at(-1)!;
}

/** Host paths of the named modules and their dependencies, in load order (modprobe --show-depends). */
export function modulePaths(version: string, names: readonly string[]): string[] {
  const order: string[] = [];
  for (const m of names) {
    const text = execFileSync('/usr/sbin/modprobe', ['-S', version, '--show-depends', m]).toString();
    for (const line of text.split('\n')) {
      const path = /^insmod (\S+)/.exec(line)?.[1];
      if (path !== undefined && !order.includes(path)) order.push(path);
    }
  }
  return order;
}

/**
 * The modules as initramfs entries and their paths in the guest: at their host paths, or in
 * `folder` (for a guest whose /lib is a link to a /usr mounted later).
 */
export function moduleFiles(paths: readonly string[], folder?: string): { entries: Entry[]; guestPaths: string[] } {
  const guestPaths = paths.map((m) => (folder === undefined ? m : `/${folder}/${m.split('/').at(-1)!}`));
  return { entries: paths.map((m, i) => file(guestPaths[i]!.slice(1), readFileSync(m), 0o100644)), guestPaths };
}

/** The shell line that loads modules (guest paths, in order) with busybox's insmod. */
export function insmodLine(guestPaths: readonly string[]): string {
  return `for m in ${guestPaths.join(' ')}; do insmod $m 2>/dev/null || echo "insmod $m failed"; done`;
}

/**
 * Writes the initramfs: every parent directory first (the kernel's unpacker does not create
 * missing parents), then the entries, the last of a name winning.
 */
export function writeInitramfs(path: string, entries: readonly Entry[]): void {
  const dirs = new Set<string>();
  for (const f of entries) {
    const parts = f.name.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const explicit = new Set(entries.map((e) => e.name));
  const unique = [...new Map(entries.map((f) => [f.name, f])).values()];
  writeFileSync(path, cpio([...[...dirs].filter((d) => !explicit.has(d)).sort().map(dir), ...unique]));
}

export interface GuestOptions {
  readonly version: string;
  readonly initrd: string;
  /** Killed after this long; the console so far is returned. */
  readonly timeoutMs: number;
  readonly memoryMiB?: number;
  readonly cpus?: number;
  /** Host folders shared read-only over 9p: mount -t 9p -o trans=virtio,version=9p2000.L TAG DIR. */
  readonly shares?: readonly { readonly tag: string; readonly path: string }[];
  /** The serial console is also written here as it arrives (to follow a slow guest). */
  readonly consoleLog?: string;
}

/** Boots the guest (network: slirp, the host as 10.0.2.2) and returns its serial console when it powers off. */
export function bootGuest(options: GuestOptions): Promise<{ console: string; seconds: number; timedOut: boolean }> {
  const shares = (options.shares ?? []).flatMap((s) => ['-virtfs', `local,path=${s.path},mount_tag=${s.tag},security_model=none,readonly=on`]);
  const args = [
    '-machine', 'q35,accel=tcg', '-cpu', 'max', '-m', String(options.memoryMiB ?? 512), '-smp', String(options.cpus ?? 1),
    '-no-reboot', '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
    '-kernel', `/boot/vmlinuz-${options.version}`, '-initrd', options.initrd,
    '-append', 'console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init',
    '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0', ...shares,
  ];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = options.consoleLog === undefined ? undefined : createWriteStream(options.consoleLog);
    let text = '';
    let timedOut = false;
    const collect = (d: Buffer) => {
      text += d.toString();
      log?.write(d);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      log?.end();
      resolve({ console: text, seconds: (Date.now() - started) / 1000, timedOut });
    });
  });
}
