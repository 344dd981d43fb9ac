/**
 * A real kernel NBD client: Debian's kernel in a qemu-system-x86_64 guest under TCG (this host's
 * kernel has no nbd driver), with nbd.ko and nbd-client in an initramfs built here from the
 * host's files. The guest attaches a volume the agent (in this process) serves on the host's
 * loopback (10.0.2.2 from the guest) over two connections, makes an ext4 filesystem, writes files,
 * syncs, detaches, attaches again and verifies every checksum. The host then checks the
 * filesystem image with e2fsck and reads a file back with debugfs. Artifacts live in a temp dir.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nbdClientAttachArgs, nbdClientDetachArgs } from '@basalt/client';
import { MiB } from '@basalt/stdx';
import { FileVolumeStore, run, runOk, startAgent, tempDir } from './nbd-support.js';
import { requireCommands } from './lib/process.js';

type Entry = { name: string; mode: number; data?: Buffer; rdev?: [number, number] };

/** A cpio "newc" archive, the initramfs format the kernel unpacks. */
function cpio(entries: Entry[]): Buffer {
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

const dir = (name: string): Entry => ({ name, mode: 0o40755 });
const file = (name: string, data: Buffer, mode = 0o100755): Entry => ({ name, mode, data });

/** A host binary and the shared libraries `ldd` says it loads, at the same paths. */
function withLibraries(binary: string, as: string): Entry[] {
  const out = [file(as, readFileSync(binary))];
  for (const line of execFileSync('ldd', [binary]).toString().split('\n')) {
    const m = /(\/\S+) \(0x/.exec(line);
    if (m) out.push(file(m[1]!.slice(1), readFileSync(m[1]!)));
  }
  return out;
}

function kernelVersion(): string {
  const versions = readdirSync('/lib/modules').filter((v) => v.endsWith('-amd64'));
  if (versions.length === 0) throw new Error('no Debian kernel: install linux-image-amd64 (see scripts/system-packages.txt)');
  return versions.sort().at(-1)!;
}

/** nbd, ext4, virtio-net and their dependencies, in load order (from modprobe --show-depends). */
function modules(version: string): string[] {
  const order: string[] = [];
  for (const m of ['nbd', 'ext4', 'virtio_pci', 'virtio_net']) {
    const text = execFileSync('/usr/sbin/modprobe', ['-S', version, '--show-depends', m]).toString();
    for (const line of text.split('\n')) {
      const path = /^insmod (\S+)/.exec(line)?.[1];
      if (path !== undefined && !order.includes(path)) order.push(path);
    }
  }
  return order;
}

function initScript(port: number, moduleNames: string[]): string {
  // The very arguments `basalt attach` gives nbd-client, so this test proves them on a real kernel.
  const attach = ['/usr/sbin/nbd-client', ...nbdClientAttachArgs({ host: '10.0.2.2', port, volume: 'kvol', device: '/dev/nbd0', readOnly: false, connections: 2 })].join(' ');
  const detach = ['/usr/sbin/nbd-client', ...nbdClientDetachArgs('/dev/nbd0')].join(' ');
  return `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /mnt /tmp /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
fail() { echo "BASALT-KERNEL-FAIL $*"; poweroff -f; }
for m in ${moduleNames.join(' ')}; do insmod /$m 2>/dev/null || echo "insmod $m failed"; done
[ -b /dev/nbd0 ] || fail no /dev/nbd0
ip link set lo up; ip link set eth0 up || fail no network
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
${attach} || fail attach
/usr/sbin/mke2fs -t ext4 -q -F /dev/nbd0 || fail mkfs
mount -t ext4 /dev/nbd0 /mnt || fail mount
echo "hello from the guest kernel" > /mnt/hello.txt
dd if=/dev/urandom of=/mnt/random.bin bs=1M count=8 2>/dev/null || fail dd
mkdir /mnt/dir; i=0; while [ $i -lt 50 ]; do echo "file $i" > /mnt/dir/f$i; i=$((i+1)); done
(cd /mnt && sha256sum hello.txt random.bin dir/* > /tmp/sums) || fail sums
sync; umount /mnt || fail umount
${detach} || fail detach
echo BASALT-KERNEL-DETACHED
sleep 1
${attach} || fail reattach
mount -t ext4 /dev/nbd0 /mnt || fail remount
(cd /mnt && sha256sum -c -s /tmp/sums) || fail verify
echo "BASALT-KERNEL-VERIFIED $(wc -l < /tmp/sums) files"
umount /mnt; ${detach}
echo BASALT-KERNEL-OK
poweroff -f
`;
}

describe('a real Linux kernel as the NBD client', () => {
  const tmp = tempDir('nbd-kernel');
  afterAll(() => tmp.cleanup());

  it('mkfs.ext4, write, detach, re-attach and verify through nbd.ko in a TCG guest', async () => {
    requireCommands('qemu-system-x86_64', 'busybox', 'nbd-client', 'mke2fs', 'e2fsck', 'debugfs');
    const version = kernelVersion();
    const store = new FileVolumeStore(tmp.dir);
    store.create('kvol', 64 * MiB);
    const agent = await startAgent({ provider: store.provider() });
    try {
      const mods = modules(version);
      const files: Entry[] = [
        { name: 'dev/console', mode: 0o20600, rdev: [5, 1] },
        file('bin/busybox', readFileSync('/bin/busybox')),
        file('init', Buffer.from(initScript(agent.port, mods.map((m) => m.slice(1))))),
        file('etc/mke2fs.conf', readFileSync('/etc/mke2fs.conf'), 0o100644),
        ...withLibraries('/usr/sbin/nbd-client', 'usr/sbin/nbd-client'),
        ...withLibraries('/usr/sbin/mke2fs', 'usr/sbin/mke2fs'),
        ...mods.map((m) => file(m.slice(1), readFileSync(m), 0o100644)),
      ];
      // Every parent directory first: the kernel's unpacker does not create missing parents.
      const dirs = new Set<string>();
      for (const f of files) {
        const parts = f.name.split('/');
        for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
      }
      const unique = [...new Map(files.map((f) => [f.name, f])).values()];
      const initrd = join(tmp.dir, 'initrd.cpio');
      writeFileSync(initrd, cpio([...[...dirs].sort().map(dir), ...unique]));

      const started = Date.now();
      const r = await run('qemu-system-x86_64', [
        '-machine', 'q35,accel=tcg', '-cpu', 'max', '-m', '512', '-smp', '1', '-no-reboot', '-display', 'none', '-monitor', 'none',
        '-serial', 'stdio', '-kernel', `/boot/vmlinuz-${version}`, '-initrd', initrd,
        '-append', 'console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init',
        '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0',
      ], { timeoutMs: 280_000 });
      const seconds = (Date.now() - started) / 1000;
      console.log(`nbd-kernel: guest ran ${seconds.toFixed(1)} s`);
      expect(r.stdout, r.stdout.slice(-3000)).toContain('BASALT-KERNEL-DETACHED');
      expect(r.stdout, r.stdout.slice(-3000)).toContain('BASALT-KERNEL-VERIFIED 52 files');
      expect(r.stdout).toContain('BASALT-KERNEL-OK');
      expect(r.stdout).not.toContain('BASALT-KERNEL-FAIL');

      // The host sees a clean ext4 filesystem in the volume, with the guest's file in it.
      const image = join(tmp.dir, 'kvol.img');
      await runOk('e2fsck', ['-fn', image]);
      const hello = await runOk('debugfs', ['-R', 'cat /hello.txt', image]);
      expect(hello.stdout).toContain('hello from the guest kernel');
      expect(store.volumes.get('kvol')!.allocated.some((b) => b === 1)).toBe(true);
      // Two attaches of two connections each; mke2fs discarded (TRIM), ext4 flushed its journal.
      const metrics = await agent.server.metrics.registry.metrics();
      expect(metrics).toMatch(/basalt_nbd_handshakes_total\{outcome="transmission"\} 4\n/);
      for (const op of ['trim', 'flush', 'write', 'read']) expect(metrics).toMatch(new RegExp(`basalt_nbd_ops_total\\{volume="kvol",op="${op}"\\} [1-9]`));
    } finally {
      await agent.stop();
    }
  }, 300_000);
});
