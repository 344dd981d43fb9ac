/**
 * The CSI Node service on a real kernel: Debian's kernel in a qemu-system-x86_64 guest under TCG
 * (test/lib/kernel-guest.ts) runs the real `basalt csi` node plugin twice, as two "nodes" with
 * their own unix sockets, state dirs and NBD agents, against a real cluster on the host (3 metad,
 * 3 chunk servers, a read-write and a read-only agent per node, reached from the guest at
 * 10.0.2.2 through slirp, which the host sees as loopback). Node and the worktree come from the
 * host over 9p (read-only); the driver in the guest (test/lib/csi-node-guest.mjs) calls the CSI
 * RPCs over the plugins' sockets and prints each step on the serial console, which this test
 * asserts:
 *   - a filesystem volume: NodeStage (mkfs, mount) and NodePublish (bind mount) on node-a, files
 *     written, NodeUnpublish and NodeUnstage (device detached); staged and published on node-b
 *     through the other agent, every checksum verified (also through a read-only publish, where
 *     a write is EROFS);
 *   - growth: ControllerExpandVolume, then NodeExpandVolume while the old device is attached is
 *     refused (FAILED_PRECONDITION: an NBD device keeps its connect-time size), and after a
 *     re-stage it grows the filesystem (df and NodeGetVolumeStats show the new size);
 *   - a raw block volume: a pattern written through the published device file, read back here
 *     through the SDK after the unstage;
 *   - ReadOnlyMany: both nodes stage and publish the filesystem volume read-only at once, through
 *     their read-only agents (two devices, nbd-client -readonly), verify the files, and a write is
 *     refused (EROFS).
 * The host then reads the filesystem volume whole through the SDK and checks it with e2fsck.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import { runOk } from './nbd-support.js';
import { BasaltCluster } from './lib/cluster.js';
import { clusterScope } from './lib/cluster-scope.js';
import { bootGuest, consoleDevice, file, insmodLine, kernelVersion, moduleFiles, modulePaths, symlink, writeInitramfs } from './lib/kernel-guest.js';
import { cliBin, freePorts, repoRoot, requireCommands, waitForPort } from './lib/process.js';

const { scope, keep } = clusterScope();
const fsVolume = 'pvc-kernel-fs';
const rawVolume = 'pvc-kernel-raw';
const extentSizeBytes = 16 * MiB;
const grownBytes = 128 * MiB;
const rawOffsets = [0, 20 * MiB + 4096];
const rawBytes = MiB;
const guestTimeoutMs = 300_000;

/**
 * The guest's /init: busybox loads the 9p modules from the initramfs, mounts the host's /usr and
 * the worktree (read-only, at the same paths), then the host's own modprobe, ip and node take over.
 */
function initScript(ninePModules: readonly string[]): string {
  const nineP = 'trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000';
  return `#!/busybox sh
/busybox mkdir -p /bb /proc /sys /dev /tmp /run /usr ${repoRoot}
/busybox --install -s /bb; export PATH=/bb
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
fail() { echo "CSI-GUEST-FAIL init $*"; poweroff -f; }
${insmodLine(ninePModules)}
mount -t 9p -o ${nineP} usr /usr || fail mount /usr
mount -t 9p -o ${nineP} repo ${repoRoot} || fail mount the worktree
mount -t tmpfs tmp /tmp; mount -t tmpfs run /run
export PATH=/usr/sbin:/usr/bin:/bb HOME=/tmp
modprobe -a nbd ext4 virtio_net || fail modprobe
ip link set lo up; ip link set eth0 up || fail no network
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
node ${repoRoot}test/lib/csi-node-guest.mjs /guest.json
poweroff -f
`;
}

function steps(console: string): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const m of console.matchAll(/^CSI-GUEST (\S+) (\{.*\})\r?$/gm)) out.set(m[1]!, JSON.parse(m[2]!) as Record<string, unknown>);
  return out;
}

describe('the CSI node plugin on a real kernel', () => {
  it('stages, publishes, moves between nodes, expands, serves raw block and read-only readers through nbd.ko in a TCG guest', { timeout: 420_000 }, async () => {
    requireCommands('qemu-system-x86_64', 'busybox', 'nbd-client', 'mkfs.ext4', 'resize2fs', 'blkid', 'e2fsck', 'dumpe2fs', 'debugfs');
    const version = kernelVersion();
    const cluster = keep(await BasaltCluster.start(scope, { agent: true }));
    // node-b's read-write agent, and a read-only agent (--read-only: no writer lease) per node for ReadOnlyMany.
    const [agentB, readOnlyA, readOnlyB] = await freePorts(3) as [number, number, number];
    for (const [name, port, flags] of [['agent-b', agentB, []], ['agent-a-ro', readOnlyA, ['--read-only']], ['agent-b-ro', readOnlyB, ['--read-only']]] as const) {
      const agent = scope.spawnCli(name, ['agent', '--metad', cluster.metaEndpoints.join(','), '--listen', `127.0.0.1:${port}`, '--insecure', ...flags]);
      await waitForPort(port, { process: agent, timeoutMs: 60_000 });
    }
    const sdk = cluster.client();
    await sdk.createVolume(fsVolume, { sizeBytes: 64 * MiB, extentSizeBytes, replicationFactor: 2 });
    await sdk.createVolume(rawVolume, { sizeBytes: 32 * MiB, extentSizeBytes, replicationFactor: 2 });

    const dir = scope.tempDir('csi-node-kernel');
    const nineP = moduleFiles(modulePaths(version, ['virtio_pci', '9pnet_virtio', '9p']), 'modules');
    const config = { cli: cliBin, metad: cluster.metaEndpoints, agentPorts: [cluster.agentPort, agentB], readOnlyAgentPorts: [readOnlyA, readOnlyB], fsVolume, rawVolume, grownBytes, rawOffsets, rawBytes };
    const initrd = join(dir, 'initrd.cpio');
    writeInitramfs(initrd, [
      consoleDevice,
      file('busybox', readFileSync('/usr/bin/busybox')),
      file('init', Buffer.from(initScript(nineP.guestPaths))),
      file('guest.json', Buffer.from(JSON.stringify(config)), 0o100644),
      file('etc/mke2fs.conf', readFileSync('/etc/mke2fs.conf'), 0o100644),
      symlink('bin', 'usr/bin'), symlink('sbin', 'usr/sbin'), symlink('lib', 'usr/lib'), symlink('lib64', 'usr/lib64'),
      ...nineP.entries,
    ]);
    const consoleLog = join(dir, 'console.log');
    const guest = await bootGuest({
      version, initrd, memoryMiB: 1024, timeoutMs: guestTimeoutMs, consoleLog,
      shares: [{ tag: 'usr', path: '/usr' }, { tag: 'repo', path: repoRoot }],
    });
    console.log(`csi-node-kernel: guest ran ${guest.seconds.toFixed(1)} s\n${guest.console.split('\n').filter((l) => l.startsWith('CSI-GUEST')).join('\n')}`);
    const tail = guest.console.slice(-4000);
    expect(guest.timedOut, `the guest did not power off in ${guestTimeoutMs} ms:\n${tail}`).toBe(false);
    expect(guest.console, tail).not.toContain('CSI-GUEST-FAIL');
    expect(guest.console, tail).toContain('CSI-GUEST-DONE');
    const s = steps(guest.console);

    expect(s.get('plugins')?.nodeIds).toEqual(['node-a', 'node-b']);
    expect(s.get('fs-stage-a')?.devices).toEqual(['nbd0']);
    expect(s.get('fs-stage-a')?.fsBytes).toBeGreaterThan(50 * MiB);
    expect(s.get('fs-publish-a')?.files).toBe(42);
    expect(s.get('fs-unstage-a')?.devices).toEqual([]);
    expect(s.get('fs-stage-b')).toEqual({ verified: 42, devices: ['nbd0'] });
    expect(s.get('fs-publish-ro')).toEqual({ verified: 42, write: 'EROFS' });
    const expand = s.get('fs-expand')!;
    expect(expand.online).toBe(9 /* FAILED_PRECONDITION */);
    expect(expand.capacityBytes).toBe(grownBytes);
    expect(expand.after as number).toBeGreaterThan(expand.before as number + 50 * MiB);
    expect(expand.statsBytes).toBe(expand.after);
    expect(expand.df).toMatch(new RegExp(` ${expand.after as number} `));
    expect(expand.verified).toBe(42);
    expect(s.get('raw-publish')).toEqual({ devices: ['nbd0'], statsBytes: 32 * MiB });
    expect(s.get('raw-unstage')?.devices).toEqual([]);
    expect(s.get('fs-readers')).toEqual({ devices: ['nbd0', 'nbd1'], verified: [42, 42], write: 'EROFS', after: [] });

    // The pattern the guest wrote through the published device file, read back through the SDK.
    const raw = await sdk.openVolume(rawVolume);
    try {
      for (const offset of rawOffsets) {
        const want = Buffer.alloc(rawBytes);
        for (let i = 0; i < rawBytes; i++) want[i] = ((offset + i) * 31 + 7) & 0xff;
        expect((await raw.read(offset, rawBytes)).equals(want), `raw volume at ${offset}`).toBe(true);
      }
    } finally {
      await raw.close();
    }

    // The filesystem volume, read whole through the SDK, is a clean ext4 of the grown size with the guest's file.
    const image = join(dir, 'fs.img');
    const fs = await sdk.openVolume(fsVolume);
    try {
      const fd = openSync(image, 'w');
      for (let offset = 0; offset < grownBytes; offset += 4 * MiB) writeSync(fd, await fs.read(offset, 4 * MiB));
      closeSync(fd);
    } finally {
      await fs.close();
    }
    await runOk('e2fsck', ['-fn', image]);
    const header = (await runOk('dumpe2fs', ['-h', image])).stdout;
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(header)?.[1]);
    expect(field('Block count') * field('Block size')).toBe(grownBytes);
    expect((await runOk('debugfs', ['-R', 'cat /hello.txt', image])).stdout).toContain('hello from a CSI node in the guest kernel');
  });
});
