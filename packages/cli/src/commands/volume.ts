import { humanBytes, invalidArgument } from '@basalt/stdx';
import type { Volume, VolumeInfo } from '@basalt/client';
import { flag, formatBytes, int, onePositional, size, str } from '../args.js';
import { clusterOptions } from '../cluster.js';
import type { Command, CommandGroup, ParsedArgs, Io } from '../command.js';
import { printJson, printTable } from '../output.js';
import { Progress } from '../progress.js';
import { withClient } from '../sdk.js';
import { exportFile, importFile } from '../transfer.js';
import { clone, flatten, importDiff, rollback } from './snapshot.js';

/** A volume as `--json` prints it. */
export function volumeJson(v: VolumeInfo) {
  return {
    id: v.id, name: v.name, sizeBytes: v.sizeBytes, extentSizeBytes: v.extentSizeBytes, extentCount: v.extentCount, allocatedExtents: v.allocatedExtents,
    replicationFactor: v.replicationFactor, generation: v.generation, leaseHolder: v.leaseHolder, labels: { ...v.labels }, createdAtMs: v.createdAtMs,
    storedBytes: v.storedBytes, tenant: v.tenant, encryption: v.encryption === undefined ? null : { cipher: v.encryption.cipher, keyId: v.encryption.keyId },
    parent: v.parent === undefined ? null : `${v.parent.volume}@${v.parent.snapshot}`, snapshots: v.snapshotCount,
    requestedSnapshots: [...v.requestedSnapshots], flatten: v.flatten === undefined ? null : { ...v.flatten },
  };
}

const json = { json: { type: 'boolean' } } as const;

function show(io: Io, args: ParsedArgs, v: VolumeInfo): void {
  if (flag(args, 'json')) {
    printJson(io, volumeJson(v));
    return;
  }
  const j = volumeJson(v);
  const labels = Object.entries(j.labels).map(([k, val]) => `${k}=${val}`).join(',') || '-';
  printTable(io, ['field', 'value'], [
    ['name', j.name], ['id', String(j.id)], ['tenant', j.tenant], ['size', `${formatBytes(j.sizeBytes)} (${j.sizeBytes} bytes)`],
    ['extent size', formatBytes(j.extentSizeBytes)], ['extents', `${j.allocatedExtents} of ${j.extentCount} allocated`],
    ['stored', `${humanBytes(j.storedBytes)} on disk, all replicas`],
    ['encryption', j.encryption === null ? 'none' : `${j.encryption.cipher}, KEK ${j.encryption.keyId}`],
    ['replication', String(j.replicationFactor)], ['generation', String(j.generation)], ['writer', j.leaseHolder || '-'], ['labels', labels],
    ['snapshots', String(j.snapshots)], ['clone of', j.parent ?? '-'],
    ...(j.requestedSnapshots.length === 0 ? [] : [['asked of the writer', j.requestedSnapshots.join(', ')]]),
    ...(j.flatten === null ? [] : [['background flatten', flattenProgress(j.flatten)]]),
  ]);
}

/** A background flatten's state for people: asked, or how far the lease holder got. */
function flattenProgress(f: NonNullable<VolumeInfo['flatten']>): string {
  const rate = f.bytesPerSec === 0 ? 'default budget' : `${humanBytes(f.bytesPerSec)}/s`;
  const done = f.totalBytes === 0 ? 'not started by the writer yet' : `${humanBytes(f.doneBytes)} of ${humanBytes(f.totalBytes)} (${Math.floor((100 * f.doneBytes) / f.totalBytes)}%)`;
  return `${done}, ${rate}, asked by ${f.requestedBy}`;
}

const create: Command = {
  name: 'create', summary: 'create a volume (--encrypt: AES-256-XTS in the client, key wrapped by the KEK of --kek-file; in --tenant T: an admin\'s choice, a client\'s own tenant by default)', usage: 'NAME --size SIZE [--extent-size SIZE] [--replicas N] [--encrypt [--kek-file FILE]] [--tenant T] [--json]',
  options: { ...clusterOptions, ...json, size: { type: 'string' }, 'extent-size': { type: 'string' }, replicas: { type: 'string' }, encrypt: { type: 'boolean' }, tenant: { type: 'string' } },
  positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    const name = onePositional(args, 'volume name');
    const sizeBytes = size(args, 'size');
    if (sizeBytes === undefined) throw invalidArgument('--size is required (e.g. --size 10GiB)');
    const extentSizeBytes = size(args, 'extent-size');
    const replicationFactor = int(args, 'replicas', 1, 255);
    const tenant = str(args, 'tenant');
    show(io, args, await client.createVolume(name, {
      sizeBytes, ...(extentSizeBytes !== undefined && { extentSizeBytes }), ...(replicationFactor !== undefined && { replicationFactor }), encrypt: flag(args, 'encrypt'), ...(tenant !== undefined && { tenant }),
    }));
    return 0;
  }),
};

const ls: Command = {
  name: 'ls', summary: 'list the volumes you may see (an admin: every tenant\'s, or --tenant T\'s)', usage: '[--tenant T] [--json]', options: { ...clusterOptions, ...json, tenant: { type: 'string' } },
  run: (args, io) => withClient(args, io, async (client) => {
    const tenant = str(args, 'tenant');
    const volumes = await client.listVolumes(tenant === undefined ? {} : { tenant });
    if (flag(args, 'json')) printJson(io, volumes.map(volumeJson));
    else printTable(io, ['NAME', 'TENANT', 'SIZE', 'EXTENT', 'REPLICAS', 'ALLOCATED', 'STORED', 'ENCRYPTED', 'WRITER'], volumes.map(volumeJson).map((v) => [
      v.name, v.tenant, formatBytes(v.sizeBytes), formatBytes(v.extentSizeBytes), String(v.replicationFactor), `${v.allocatedExtents}/${v.extentCount}`, humanBytes(v.storedBytes), v.encryption === null ? '-' : 'yes', v.leaseHolder || '-',
    ]));
    return 0;
  }),
};

const info: Command = {
  name: 'info', summary: 'show one volume', usage: 'NAME [--json]', options: { ...clusterOptions, ...json }, positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    show(io, args, await client.getVolume(onePositional(args, 'volume name')));
    return 0;
  }),
};

const resize: Command = {
  name: 'resize', summary: 'grow a volume, also while it is written (--force shrinks over never-written space only)', usage: 'NAME --size SIZE [--force] [--json]',
  options: { ...clusterOptions, ...json, size: { type: 'string' }, force: { type: 'boolean' } },
  positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    const sizeBytes = size(args, 'size');
    if (sizeBytes === undefined) throw invalidArgument('--size is required');
    show(io, args, await client.resizeVolume(onePositional(args, 'volume name'), sizeBytes, { force: flag(args, 'force') }));
    return 0;
  }),
};

const rm: Command = {
  name: 'rm', summary: 'delete a volume', usage: 'NAME [--force] [--json]', options: { ...clusterOptions, ...json, force: { type: 'boolean' } },
  positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    const name = onePositional(args, 'volume name');
    await client.deleteVolume(name, { force: flag(args, 'force') });
    if (flag(args, 'json')) printJson(io, { deleted: name });
    else io.out(`deleted ${name}; chunk servers give its space back at their next reclaim passes (within 2 minutes by default)\n`);
    return 0;
  }),
};

const label: Command = {
  name: 'label', summary: 'set or remove a label (compare-and-set with --expect)', usage: 'NAME KEY [--value V | --remove] [--expect V | --expect-absent] [--json]',
  options: { ...clusterOptions, ...json, value: { type: 'string' }, remove: { type: 'boolean' }, expect: { type: 'string' }, 'expect-absent': { type: 'boolean' } },
  positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    if (args.positionals.length !== 2) throw invalidArgument('expected NAME KEY');
    const [name, key] = args.positionals as [string, string];
    const value = str(args, 'value');
    if ((value === undefined) === !flag(args, 'remove')) throw invalidArgument('give exactly one of --value V and --remove');
    const expect = flag(args, 'expect-absent') ? '' : str(args, 'expect');
    show(io, args, await client.setLabel(name, key, value, expect === undefined ? {} : { expect }));
    return 0;
  }),
};

/** Opens NAME (writer for imports), runs the copy with a progress bar on stderr, closes. */
function transfer(args: ParsedArgs, io: Io, writer: boolean, copy: (volume: Volume, path: string, progress: (total: number) => Progress) => Promise<number>, fileFlag: string): Promise<number> {
  return withClient(args, io, async (client) => {
    const name = onePositional(args, 'volume name');
    const path = str(args, fileFlag);
    if (path === undefined || path === '') throw invalidArgument(`--${fileFlag} FILE is required`);
    const volume = await client.openVolume(name, { writer, force: writer && flag(args, 'force') });
    const startMs = Date.now();
    let bytes: number;
    try {
      bytes = await copy(volume, path, (total) => new Progress(writer ? `import ${name}` : `export ${name}`, total, (t) => io.err(t), process.stderr.isTTY));
    } finally {
      await volume.close();
    }
    const seconds = (Date.now() - startMs) / 1000;
    if (flag(args, 'json')) printJson(io, { volume: name, file: path, bytes, seconds });
    else io.out(`${writer ? 'wrote' : 'read'} ${bytes} bytes ${writer ? `from ${path} to` : `of`} ${name}${writer ? '' : ` to ${path}`} in ${seconds.toFixed(1)} s\n`);
    return 0;
  });
}

const write: Command = {
  name: 'write', summary: 'import a local file (or disk image) into a volume from offset 0; all-zero blocks stay holes',
  usage: 'NAME --from FILE [--force] [--json]', options: { ...clusterOptions, ...json, from: { type: 'string' }, force: { type: 'boolean' } }, positionals: true,
  run: (args, io) => transfer(args, io, true, importFile, 'from'),
};

const read: Command = {
  name: 'read', summary: 'export a whole volume to a local file (sparse: holes are not written)',
  usage: 'NAME --to FILE [--json]', options: { ...clusterOptions, ...json, to: { type: 'string' } }, positionals: true,
  run: (args, io) => transfer(args, io, false, exportFile, 'to'),
};

export const volumeGroup: CommandGroup = { name: 'volume', summary: 'create, list, inspect, resize, delete, import and export, clone and roll back volumes', commands: [create, ls, info, resize, rm, label, write, read, rollback, clone, flatten, importDiff] };

