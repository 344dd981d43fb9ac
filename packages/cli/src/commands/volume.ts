import { invalidArgument } from '@basalt/stdx';
import type { Volume } from '@basalt/client';
import type { pb } from '@basalt/wire';
import { flag, formatBytes, int, onePositional, size, str } from '../args.js';
import { clusterOptions, withMeta } from '../cluster.js';
import type { Command, CommandGroup, ParsedArgs, Io } from '../command.js';
import { printJson, printTable } from '../output.js';
import { Progress } from '../progress.js';
import { withClient } from '../sdk.js';
import { exportFile, importFile } from '../transfer.js';

/** A volume as `--json` prints it. */
export function volumeJson(v: pb.IVolume) {
  return {
    id: v.id ?? 0, name: v.name ?? '', sizeBytes: v.sizeBytes ?? 0, extentSizeBytes: v.extentSizeBytes ?? 0,
    extentCount: v.extentCount ?? 0, allocatedExtents: v.allocatedExtents ?? 0, replicationFactor: v.replicationFactor ?? 0,
    generation: v.generation ?? 0, leaseHolder: v.leaseHolder ?? '', labels: { ...(v.labels ?? {}) }, createdAtMs: v.createdAtMs ?? 0,
  };
}

const json = { json: { type: 'boolean' } } as const;

function show(io: Io, args: ParsedArgs, v: pb.IVolume): void {
  if (flag(args, 'json')) {
    printJson(io, volumeJson(v));
    return;
  }
  const j = volumeJson(v);
  const labels = Object.entries(j.labels).map(([k, val]) => `${k}=${val}`).join(',') || '-';
  printTable(io, ['field', 'value'], [
    ['name', j.name], ['id', String(j.id)], ['size', `${formatBytes(j.sizeBytes)} (${j.sizeBytes} bytes)`],
    ['extent size', formatBytes(j.extentSizeBytes)], ['extents', `${j.allocatedExtents} of ${j.extentCount} allocated`],
    ['replication', String(j.replicationFactor)], ['generation', String(j.generation)], ['writer', j.leaseHolder || '-'], ['labels', labels],
  ]);
}

const create: Command = {
  name: 'create', summary: 'create a volume', usage: 'NAME --size SIZE [--extent-size SIZE] [--replicas N] [--json]',
  options: { ...clusterOptions, ...json, size: { type: 'string' }, 'extent-size': { type: 'string' }, replicas: { type: 'string' } },
  positionals: true,
  run: (args, io) => withMeta(args, io, async (meta) => {
    const name = onePositional(args, 'volume name');
    const sizeBytes = size(args, 'size');
    if (sizeBytes === undefined) throw invalidArgument('--size is required (e.g. --size 10GiB)');
    const reply = await meta.call('createVolume', {
      name, sizeBytes, extentSizeBytes: size(args, 'extent-size') ?? 0, replicationFactor: int(args, 'replicas', 1, 255) ?? 0,
    });
    show(io, args, reply.volume ?? {});
    return 0;
  }),
};

const ls: Command = {
  name: 'ls', summary: 'list volumes', usage: '[--json]', options: { ...clusterOptions, ...json },
  run: (args, io) => withMeta(args, io, async (meta) => {
    const { volumes } = await meta.listAllVolumes();
    if (flag(args, 'json')) printJson(io, volumes.map(volumeJson));
    else printTable(io, ['NAME', 'SIZE', 'EXTENT', 'REPLICAS', 'ALLOCATED', 'WRITER'], volumes.map(volumeJson).map((v) => [
      v.name, formatBytes(v.sizeBytes), formatBytes(v.extentSizeBytes), String(v.replicationFactor), `${v.allocatedExtents}/${v.extentCount}`, v.leaseHolder || '-',
    ]));
    return 0;
  }),
};

const info: Command = {
  name: 'info', summary: 'show one volume', usage: 'NAME [--json]', options: { ...clusterOptions, ...json }, positionals: true,
  run: (args, io) => withMeta(args, io, async (meta) => {
    const reply = await meta.call('getVolume', { name: onePositional(args, 'volume name') });
    show(io, args, reply.volume ?? {});
    return 0;
  }),
};

const resize: Command = {
  name: 'resize', summary: 'grow a volume', usage: 'NAME --size SIZE [--json]', options: { ...clusterOptions, ...json, size: { type: 'string' } },
  positionals: true,
  run: (args, io) => withMeta(args, io, async (meta) => {
    const sizeBytes = size(args, 'size');
    if (sizeBytes === undefined) throw invalidArgument('--size is required');
    const reply = await meta.call('resizeVolume', { name: onePositional(args, 'volume name'), sizeBytes });
    show(io, args, reply.volume ?? {});
    return 0;
  }),
};

const rm: Command = {
  name: 'rm', summary: 'delete a volume', usage: 'NAME [--force] [--json]', options: { ...clusterOptions, ...json, force: { type: 'boolean' } },
  positionals: true,
  run: (args, io) => withMeta(args, io, async (meta) => {
    const name = onePositional(args, 'volume name');
    await meta.call('deleteVolume', { name, force: flag(args, 'force') });
    if (flag(args, 'json')) printJson(io, { deleted: name });
    else io.out(`deleted ${name}; chunk servers give its space back at their next reclaim passes (within 2 minutes by default)\n`);
    return 0;
  }),
};

const label: Command = {
  name: 'label', summary: 'set or remove a label (compare-and-set with --expect)', usage: 'NAME KEY [--value V | --remove] [--expect V | --expect-absent] [--json]',
  options: { ...clusterOptions, ...json, value: { type: 'string' }, remove: { type: 'boolean' }, expect: { type: 'string' }, 'expect-absent': { type: 'boolean' } },
  positionals: true,
  run: (args, io) => withMeta(args, io, async (meta) => {
    if (args.positionals.length !== 2) throw invalidArgument('expected NAME KEY');
    const [name, key] = args.positionals as [string, string];
    const value = str(args, 'value');
    if ((value === undefined) === !flag(args, 'remove')) throw invalidArgument('give exactly one of --value V and --remove');
    const expect = flag(args, 'expect-absent') ? '' : str(args, 'expect');
    const reply = await meta.call('setVolumeLabel', { name, key, ...(value !== undefined && { value }), ...(expect !== undefined && { expect }) });
    show(io, args, reply.volume ?? {});
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

export const volumeGroup: CommandGroup = { name: 'volume', summary: 'create, list, inspect, resize, delete, import and export volumes', commands: [create, ls, info, resize, rm, label, write, read] };

