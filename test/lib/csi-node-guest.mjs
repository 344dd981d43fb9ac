// Runs inside the kernel guest of csi-node-kernel.test.ts (node and the worktree come from the
// host over 9p). Starts two CSI node plugins (`basalt csi`), "node-a" and "node-b", each with its
// own unix socket, state dir and NBD agents on the host (read-write and read-only), and drives
// them over the CSI proto: a
// filesystem volume is staged, published, written and unstaged on node-a, staged on node-b and
// verified (also through a read-only publish), grown and expanded; a raw block volume is written
// through its published device file; both nodes then stage the filesystem volume read-only at once.
// Each step prints "CSI-GUEST <step> <json>" on the console; a failure "CSI-GUEST-FAIL <step>
// <message>"; the end "CSI-GUEST-DONE". The host test asserts the lines.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import { csiControllerService, csiNodeService } from '@basalt/wire';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const hostIp = '10.0.2.2';
const callTimeoutMs = 120_000;
const MiB = 2 ** 20;

let step = 'start';
const report = (name, value = {}) => console.log(`CSI-GUEST ${name} ${JSON.stringify(value)}`);
const check = (ok, what) => {
  if (!ok) throw new Error(what);
};

/** 127.0.0.1:P in the guest to the host's 127.0.0.1:P, so metad's leader hints name reachable addresses. */
function forward(port) {
  return new Promise((resolve) => {
    const server = createServer((inbound) => {
      const outbound = connect(port, hostIp);
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
    });
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** A `basalt csi` process; resolves once it serves its socket. */
function startPlugin(name, mode, agentPort, readOnlyAgentPort) {
  const socket = `/tmp/${name}.sock`;
  const args = [config.cli, 'csi', '--metad', config.metad.join(','), '--mode', mode, '--endpoint', `unix://${socket}`,
    '--node-id', name, '--agent', `${hostIp}:${agentPort}`, '--read-only-agent', `${hostIp}:${readOnlyAgentPort}`, '--state-dir', `/tmp/${name}-state`, '--connections', '2'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (d) => d.toString().split('\n').filter((l) => l !== '').map((l) => `[${name}] ${l}\n`).join('');
  child.stderr.on('data', (d) => process.stdout.write(prefix(d)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not serve in 180 s`)), 180_000);
    child.on('exit', (code) => reject(new Error(`${name} exited ${code}`)));
    child.stdout.on('data', (d) => {
      process.stdout.write(prefix(d));
      if (d.toString().includes('basalt csi: ')) {
        clearTimeout(timer);
        resolve({ child, node: caller(socket, csiNodeService, 'Node'), controller: caller(socket, csiControllerService, 'Controller') });
      }
    });
  });
}

function caller(socket, service, name) {
  const Ctor = makeGenericClientConstructor(service, name);
  const client = new Ctor(`unix://${socket}`, credentials.createInsecure());
  return (method, req) => new Promise((resolve, reject) => {
    client[method](req, { deadline: Date.now() + callTimeoutMs }, (err, value) => (err ? reject(err) : resolve(value)));
  });
}

/** The status code of a call that must fail (-1 when it succeeded). */
async function codeOf(promise) {
  try {
    await promise;
    return -1;
  } catch (err) {
    return err.code;
  }
}

const mountPoints = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]);
const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const attached = () => readdirSync('/sys/block').filter((n) => n.startsWith('nbd') && existsSync(`/sys/block/${n}/pid`));
const fsBytes = (path) => {
  const s = statfsSync(path);
  return s.blocks * s.bsize;
};
const dfLine = (path) => execFileSync('df', ['-B1', path]).toString().trim().split('\n').at(-1);

const fsCap = { mount: { fsType: 'ext4' }, accessMode: { mode: 1 /* SINGLE_NODE_WRITER */ } };
const blockCap = { block: {}, accessMode: { mode: 1 } };
const readerCap = { mount: { fsType: 'ext4' }, accessMode: { mode: 3 /* MULTI_NODE_READER_ONLY */ } };

/** The error code of writing a file at path ('' when the write succeeded). */
function writeError(path) {
  try {
    writeFileSync(path, 'must not be written');
    return '';
  } catch (err) {
    return err.code;
  }
}

/** Files of known content: one 8 MiB random file and 40 small ones. */
function writeFiles(dir) {
  const sums = {};
  const put = (name, data) => {
    const fd = openSync(`${dir}/${name}`, 'w');
    writeSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    sums[name] = sha256(data);
  };
  put('hello.txt', Buffer.from('hello from a CSI node in the guest kernel\n'));
  put('random.bin', randomBytes(8 * MiB));
  mkdirSync(`${dir}/dir`);
  for (let i = 0; i < 40; i++) put(`dir/f${i}`, randomBytes(1000 + i * 97));
  return sums;
}

function verifyFiles(dir, sums) {
  for (const [name, sum] of Object.entries(sums)) check(sha256(readFileSync(`${dir}/${name}`)) === sum, `${name} has another checksum`);
  return Object.keys(sums).length;
}

/** The raw volume's pattern at offset (the host reads it back through the SDK). */
const pattern = (offset, bytes) => {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = ((offset + i) * 31 + 7) & 0xff;
  return out;
};

async function filesystemVolume(a, b) {
  const volumeId = config.fsVolume;
  const stageA = '/tmp/kubelet-a/staging/fs';
  const targetA = '/tmp/kubelet-a/pods/p1/fs';
  step = 'fs-stage-a';
  await a.node('nodeStageVolume', { volumeId, stagingTargetPath: stageA, volumeCapability: fsCap });
  await a.node('nodeStageVolume', { volumeId, stagingTargetPath: stageA, volumeCapability: fsCap });
  check(mountPoints().includes(stageA), 'the staging path is not a mount point');
  report(step, { devices: attached(), fsBytes: fsBytes(stageA) });
  step = 'fs-publish-a';
  await a.node('nodePublishVolume', { volumeId, stagingTargetPath: stageA, targetPath: targetA, volumeCapability: fsCap });
  await a.node('nodePublishVolume', { volumeId, stagingTargetPath: stageA, targetPath: targetA, volumeCapability: fsCap });
  check(mountPoints().includes(targetA), 'the target path is not a mount point');
  const sums = writeFiles(targetA);
  report(step, { files: Object.keys(sums).length });
  step = 'fs-unstage-a';
  await a.node('nodeUnpublishVolume', { volumeId, targetPath: targetA });
  check(!existsSync(targetA), 'the target path is still there');
  await a.node('nodeUnstageVolume', { volumeId, stagingTargetPath: stageA });
  await a.node('nodeUnstageVolume', { volumeId, stagingTargetPath: stageA });
  check(!mountPoints().includes(stageA), 'the staging path is still mounted');
  report(step, { devices: attached() });

  const stageB = '/tmp/kubelet-b/staging/fs';
  const targetB = '/tmp/kubelet-b/pods/p2/fs';
  step = 'fs-stage-b';
  await b.node('nodeStageVolume', { volumeId, stagingTargetPath: stageB, volumeCapability: fsCap });
  await b.node('nodePublishVolume', { volumeId, stagingTargetPath: stageB, targetPath: targetB, volumeCapability: fsCap });
  report(step, { verified: verifyFiles(targetB, sums), devices: attached() });
  step = 'fs-publish-ro';
  const readOnlyTarget = '/tmp/kubelet-b/pods/p2-ro/fs';
  await b.node('nodePublishVolume', { volumeId, stagingTargetPath: stageB, targetPath: readOnlyTarget, volumeCapability: fsCap, readonly: true });
  report(step, { verified: verifyFiles(readOnlyTarget, sums), write: writeError(`${readOnlyTarget}/refused.txt`) });
  await b.node('nodeUnpublishVolume', { volumeId, targetPath: readOnlyTarget });

  step = 'fs-expand';
  const before = fsBytes(targetB);
  const grown = await b.controller('controllerExpandVolume', { volumeId, capacityRange: { requiredBytes: config.grownBytes }, volumeCapability: fsCap });
  check(Number(grown.capacityBytes) === config.grownBytes, `ControllerExpandVolume answered ${grown.capacityBytes}`);
  check(grown.nodeExpansionRequired === true, 'ControllerExpandVolume did not ask for a node expansion');
  // The attached device keeps the size it was connected with: the node says so instead of growing nothing.
  const online = await codeOf(b.node('nodeExpandVolume', { volumeId, volumePath: targetB, stagingTargetPath: stageB, capacityRange: { requiredBytes: config.grownBytes } }));
  check(fsBytes(targetB) === before, 'the filesystem changed size on a device of the old size');
  await b.node('nodeUnpublishVolume', { volumeId, targetPath: targetB });
  await b.node('nodeUnstageVolume', { volumeId, stagingTargetPath: stageB });
  await b.node('nodeStageVolume', { volumeId, stagingTargetPath: stageB, volumeCapability: fsCap });
  const expanded = await b.node('nodeExpandVolume', { volumeId, volumePath: stageB, stagingTargetPath: stageB, capacityRange: { requiredBytes: config.grownBytes } });
  await b.node('nodePublishVolume', { volumeId, stagingTargetPath: stageB, targetPath: targetB, volumeCapability: fsCap });
  const stats = await b.node('nodeGetVolumeStats', { volumeId, volumePath: targetB });
  const statsBytes = Number(stats.usage.find((u) => u.unit === 1 /* BYTES */).total);
  report(step, { before, after: fsBytes(targetB), online, capacityBytes: Number(expanded.capacityBytes), statsBytes, df: dfLine(targetB), verified: verifyFiles(targetB, sums) });
  await b.node('nodeUnpublishVolume', { volumeId, targetPath: targetB });
  await b.node('nodeUnstageVolume', { volumeId, stagingTargetPath: stageB });
  return sums;
}

/** ReadOnlyMany: both nodes stage the filesystem volume read-only at once, on two devices. */
async function readersOnBothNodes(a, b, sums) {
  const volumeId = config.fsVolume;
  const nodes = [[a, 'a'], [b, 'b']];
  step = 'fs-readers';
  for (const [n, name] of nodes) {
    await n.node('nodeStageVolume', { volumeId, stagingTargetPath: `/tmp/kubelet-${name}/staging/ro`, volumeCapability: readerCap });
    await n.node('nodePublishVolume', { volumeId, stagingTargetPath: `/tmp/kubelet-${name}/staging/ro`, targetPath: `/tmp/kubelet-${name}/pods/ro/fs`, volumeCapability: readerCap, readonly: true });
  }
  const devices = attached();
  const verified = nodes.map(([, name]) => verifyFiles(`/tmp/kubelet-${name}/pods/ro/fs`, sums));
  const write = writeError('/tmp/kubelet-a/staging/ro/refused.txt');
  for (const [n, name] of nodes) {
    await n.node('nodeUnpublishVolume', { volumeId, targetPath: `/tmp/kubelet-${name}/pods/ro/fs` });
    await n.node('nodeUnstageVolume', { volumeId, stagingTargetPath: `/tmp/kubelet-${name}/staging/ro` });
  }
  report(step, { devices, verified, write, after: attached() });
}

async function blockVolume(a) {
  const volumeId = config.rawVolume;
  const stage = '/tmp/kubelet-a/staging/raw';
  const target = '/tmp/kubelet-a/pods/p3/raw';
  step = 'raw-publish';
  await a.node('nodeStageVolume', { volumeId, stagingTargetPath: stage, volumeCapability: blockCap });
  await a.node('nodePublishVolume', { volumeId, stagingTargetPath: stage, targetPath: target, volumeCapability: blockCap });
  check(mountPoints().includes(target), 'the block target is not a mount point');
  const fd = openSync(target, 'r+');
  for (const offset of config.rawOffsets) writeSync(fd, pattern(offset, config.rawBytes), 0, config.rawBytes, offset);
  fsyncSync(fd);
  closeSync(fd);
  const stats = await a.node('nodeGetVolumeStats', { volumeId, volumePath: target });
  report(step, { devices: attached(), statsBytes: Number(stats.usage[0].total) });
  step = 'raw-unstage';
  await a.node('nodeUnpublishVolume', { volumeId, targetPath: target });
  await a.node('nodeUnstageVolume', { volumeId, stagingTargetPath: stage });
  check(!existsSync(target), 'the block target is still there');
  report(step, { devices: attached() });
}

try {
  const forwarders = await Promise.all(config.metad.map((address) => forward(Number(address.split(':')[1]))));
  step = 'plugins';
  const started = Date.now();
  const [a, b] = await Promise.all([startPlugin('node-a', 'node', config.agentPorts[0], config.readOnlyAgentPorts[0]), startPlugin('node-b', 'both', config.agentPorts[1], config.readOnlyAgentPorts[1])]);
  const info = await Promise.all([a.node('nodeGetInfo', {}), b.node('nodeGetInfo', {})]);
  report(step, { nodeIds: info.map((i) => i.nodeId), seconds: (Date.now() - started) / 1000 });
  const sums = await filesystemVolume(a, b);
  await blockVolume(a);
  await readersOnBothNodes(a, b, sums);
  for (const p of [a, b]) p.child.kill('SIGTERM');
  for (const f of forwarders) f.close();
  console.log('CSI-GUEST-DONE');
} catch (err) {
  console.log(`CSI-GUEST-FAIL ${step} ${err instanceof Error ? err.message : String(err)}`);
}
process.exit(0);
