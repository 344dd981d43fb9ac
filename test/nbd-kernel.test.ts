/**
 * A real kernel NBD client: Debian's kernel in a qemu-system-x86_64 guest under TCG (this host's
 * kernel has no nbd driver), with nbd.ko and nbd-client in an initramfs built here from the
 * host's files. The guest attaches a volume the agent (in this process) serves on the host's
 * loopback (10.0.2.2 from the guest) over two connections, makes an ext4 filesystem, writes files,
 * syncs, detaches, attaches again and verifies every checksum. The host then checks the
 * filesystem image with e2fsck and reads a file back with debugfs. Artifacts live in a temp dir.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nbdClientAttachArgs, nbdClientDetachArgs } from '@basalt/client';
import { MiB } from '@basalt/stdx';
import { FileVolumeStore, runOk, startAgent, tempDir } from './nbd-support.js';
import { bootGuest, consoleDevice, file, insmodLine, kernelVersion, moduleFiles, modulePaths, withLibraries, writeInitramfs } from './lib/kernel-guest.js';
import { requireCommands } from './lib/process.js';

function initScript(port: number, modules: string[]): string {
  // The very arguments `basalt attach` gives nbd-client, so this test proves them on a real kernel.
  const attach = ['/usr/sbin/nbd-client', ...nbdClientAttachArgs({ host: '10.0.2.2', port, volume: 'kvol', device: '/dev/nbd0', readOnly: false, connections: 2 })].join(' ');
  const detach = ['/usr/sbin/nbd-client', ...nbdClientDetachArgs('/dev/nbd0')].join(' ');
  return `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /mnt /tmp /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
fail() { echo "BASALT-KERNEL-FAIL $*"; poweroff -f; }
${insmodLine(modules)}
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
      const mods = moduleFiles(modulePaths(version, ['nbd', 'ext4', 'virtio_pci', 'virtio_net']));
      const initrd = join(tmp.dir, 'initrd.cpio');
      writeInitramfs(initrd, [
        consoleDevice,
        file('bin/busybox', readFileSync('/bin/busybox')),
        file('init', Buffer.from(initScript(agent.port, mods.guestPaths))),
        file('etc/mke2fs.conf', readFileSync('/etc/mke2fs.conf'), 0o100644),
        ...withLibraries('/usr/sbin/nbd-client', 'usr/sbin/nbd-client'),
        ...withLibraries('/usr/sbin/mke2fs', 'usr/sbin/mke2fs'),
        ...mods.entries,
      ]);
      const guest = await bootGuest({ version, initrd, timeoutMs: 280_000 });
      console.log(`nbd-kernel: guest ran ${guest.seconds.toFixed(1)} s`);
      const out = guest.console;
      expect(out, out.slice(-3000)).toContain('BASALT-KERNEL-DETACHED');
      expect(out, out.slice(-3000)).toContain('BASALT-KERNEL-VERIFIED 52 files');
      expect(out).toContain('BASALT-KERNEL-OK');
      expect(out).not.toContain('BASALT-KERNEL-FAIL');

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
