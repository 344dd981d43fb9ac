import { ErrorCode, invalidArgument, isBasaltError } from '@basalt/stdx';
import type { SnapshotInfo, TransferProgress } from '@basalt/client';
import { flag, int, size, str } from '../args.js';
import { clusterOptions } from '../cluster.js';
import type { Command, CommandGroup, Io, ParsedArgs } from '../command.js';
import { printJson, printTable } from '../output.js';
import { Progress } from '../progress.js';
import { withClient } from '../sdk.js';

/** `basalt snapshot ...` and the snapshot-based volume commands (docs/snapshots.md). */

const json = { json: { type: 'boolean' } } as const;

/** VOLUME@NAME, both parts non-empty (the names themselves are checked by metad). */
export function volumeAtSnapshot(text: string | undefined, what = 'VOLUME@SNAPSHOT'): { volume: string; snapshot: string } {
  const at = text?.indexOf('@') ?? -1;
  if (text === undefined || at <= 0 || at === text.length - 1) throw invalidArgument(`expected ${what}, e.g. db1@before-upgrade; got ${JSON.stringify(text ?? '')}`);
  return { volume: text.slice(0, at), snapshot: text.slice(at + 1) };
}

function positional(args: ParsedArgs, count: number, usage: string): string[] {
  if (args.positionals.length !== count) throw invalidArgument(`expected ${usage}`);
  return args.positionals;
}

export function snapshotJson(s: SnapshotInfo) {
  return { volume: s.volume, id: s.id, name: s.name, state: s.state, sizeBytes: s.sizeBytes, extents: s.extents.length, clones: s.clones, createdAtMs: s.createdAtMs, ...(s.state === 'requested' && { requestedBy: s.requestedBy }) };
}

/** A progress line on stderr, started at the first report (when the total is known). */
export function progressLine(label: string, io: Io): { onProgress: TransferProgress; finish(): void } {
  let bar: Progress | undefined;
  let last = 0;
  return {
    onProgress: (done, total) => {
      bar ??= new Progress(label, total, (t) => io.err(t), process.stderr.isTTY);
      bar.add(done - last);
      last = done;
    },
    finish: () => bar?.finish(),
  };
}

const create: Command = {
  name: 'create', summary: 'snapshot a volume (one that a writer holds is asked of that writer, which takes it in its stream; waits up to --wait seconds)', usage: 'VOLUME@NAME [--wait SECONDS] [--json]',
  options: { ...clusterOptions, ...json, wait: { type: 'string' } }, positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    const { volume, snapshot } = volumeAtSnapshot(positional(args, 1, 'VOLUME@NAME')[0]);
    const waitSeconds = int(args, 'wait', 1, 3600);
    let told: string | undefined;
    const onWaiting = (state: string, holder: string): void => {
      if (state === told) return;
      told = state;
      io.err(state === 'requested' ? `${holder || 'a writer'} holds the writer lease of ${volume}: asked it for the snapshot, waiting\n` : `the writer is taking ${volume}@${snapshot}\n`);
    };
    const snap = await client.createSnapshot(volume, snapshot, { onWaiting, ...(waitSeconds !== undefined && { timeoutMs: waitSeconds * 1000 }) });
    if (flag(args, 'json')) printJson(io, snapshotJson(snap));
    else io.out(`created ${volume}@${snap.name} (id ${snap.id}, ${snap.extents.length} extents)\n`);
    return 0;
  }),
};

const ls: Command = {
  name: 'ls', summary: "list a volume's snapshots", usage: 'VOLUME [--json]', options: { ...clusterOptions, ...json }, positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    const snaps = await client.listSnapshots(positional(args, 1, 'VOLUME')[0]!);
    if (flag(args, 'json')) printJson(io, snaps.map(snapshotJson));
    else printTable(io, ['NAME', 'ID', 'STATE', 'EXTENTS', 'CLONES', 'CREATED'], snaps.map((s) => [s.name, String(s.id), s.state, String(s.extents.length), String(s.clones), new Date(s.createdAtMs).toISOString()]));
    return 0;
  }),
};

const rm: Command = {
  name: 'rm', summary: 'delete a snapshot (its blocks are freed; kept hidden while clones read through it)', usage: 'VOLUME@NAME [--json]',
  options: { ...clusterOptions, ...json }, positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    const { volume, snapshot } = volumeAtSnapshot(positional(args, 1, 'VOLUME@NAME')[0]);
    const snap = await client.deleteSnapshot(volume, snapshot);
    if (flag(args, 'json')) printJson(io, { deleted: `${volume}@${snapshot}`, removed: snap.removed });
    else io.out(snap.removed ? `deleted ${volume}@${snapshot}\n` : `deleted ${volume}@${snapshot}; its blocks stay until its ${snap.clones} clone(s) are deleted\n`);
    return 0;
  }),
};

const diff: Command = {
  name: 'diff', summary: 'write the blocks that changed between two snapshots to a file (A omitted with --full)', usage: 'VOLUME@A VOLUME@B --to FILE | VOLUME@B --full --to FILE [--json]',
  options: { ...clusterOptions, ...json, to: { type: 'string' }, full: { type: 'boolean' } }, positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    const full = flag(args, 'full');
    const names = positional(args, full ? 1 : 2, full ? 'VOLUME@B --full' : 'VOLUME@A VOLUME@B');
    const to = volumeAtSnapshot(names[names.length - 1]);
    const from = full ? undefined : volumeAtSnapshot(names[0]);
    if (from !== undefined && from.volume !== to.volume) throw invalidArgument(`both snapshots must be of one volume, got ${from.volume} and ${to.volume}`);
    const file = str(args, 'to');
    if (file === undefined || file === '') throw invalidArgument('--to FILE is required');
    const line = progressLine(`diff ${to.volume}`, io);
    const startMs = Date.now();
    const out = await client.exportDiff(to.volume, { to: to.snapshot, ...(from !== undefined && { from: from.snapshot }), file, onProgress: line.onProgress });
    line.finish();
    const seconds = (Date.now() - startMs) / 1000;
    if (flag(args, 'json')) printJson(io, { file, records: out.records, bytes: out.bytes, seconds });
    else io.out(`wrote ${out.bytes} bytes of changed blocks (${out.records} records) to ${file} in ${seconds.toFixed(1)} s\n`);
    return 0;
  }),
};

export const snapshotGroup: CommandGroup = { name: 'snapshot', summary: 'create, list and delete snapshots; export diffs between them', commands: [create, ls, rm, diff] };

/** `basalt volume rollback VOLUME@NAME`. */
export const rollback: Command = {
  name: 'rollback', summary: 'make a volume read as one of its snapshots again (needs no writer on it)', usage: 'VOLUME@NAME [--json]',
  options: { ...clusterOptions, ...json }, positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    const { volume, snapshot } = volumeAtSnapshot(positional(args, 1, 'VOLUME@NAME')[0]);
    const line = progressLine(`rollback ${volume}`, io);
    const out = await client.rollbackVolume(volume, snapshot, line.onProgress);
    line.finish();
    if (flag(args, 'json')) printJson(io, { volume, snapshot, bytes: out.bytes });
    else io.out(`rolled ${volume} back to ${snapshot}: ${out.bytes} bytes rewritten\n`);
    return 0;
  }),
};

/** `basalt volume clone VOLUME@SNAP NEWNAME`. */
export const clone: Command = {
  name: 'clone', summary: 'create a writable volume from a snapshot at once, sharing its unchanged blocks', usage: 'VOLUME@SNAPSHOT NEWNAME [--json]',
  options: { ...clusterOptions, ...json }, positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    const [source, name] = positional(args, 2, 'VOLUME@SNAPSHOT NEWNAME') as [string, string];
    const { volume, snapshot } = volumeAtSnapshot(source);
    const v = await client.cloneVolume(volume, snapshot, name);
    if (flag(args, 'json')) printJson(io, { name: v.name, id: v.id, sizeBytes: v.sizeBytes, parent: v.parent });
    else io.out(`created ${v.name}, a clone of ${volume}@${snapshot}\n`);
    return 0;
  }),
};

/**
 * `basalt volume flatten NAME [--background [--bandwidth RATE]]`. With --background the clone's
 * lease holder copies in its own stream under the budget; nobody holding the lease, this command
 * flattens in the foreground as without it.
 */
export const flatten: Command = {
  name: 'flatten', summary: "copy a clone's shared blocks from its snapshot so it no longer depends on it (--background: its writer does it, within --bandwidth per second)", usage: 'NAME [--background [--bandwidth RATE]] [--json]',
  options: { ...clusterOptions, ...json, background: { type: 'boolean' }, bandwidth: { type: 'string' } }, positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    const name = positional(args, 1, 'NAME')[0]!;
    const bytesPerSec = size(args, 'bandwidth');
    if (bytesPerSec !== undefined && !flag(args, 'background')) throw invalidArgument('--bandwidth applies to --background only');
    if (flag(args, 'background')) {
      try {
        const v = await client.requestFlatten(name, bytesPerSec === undefined ? {} : { bytesPerSec });
        if (flag(args, 'json')) printJson(io, { volume: name, background: true, leaseHolder: v.leaseHolder, flatten: v.flatten ?? null });
        else io.out(`asked ${v.leaseHolder}, the writer of ${name}, to flatten it in the background; "basalt volume info ${name}" shows its progress\n`);
        return 0;
      } catch (err) {
        if (!isBasaltError(err, ErrorCode.NoLeaseHolder)) throw err;
        io.err(`nobody holds the writer lease of ${name}: flattening it in the foreground\n`);
      }
    }
    const line = progressLine(`flatten ${name}`, io);
    const out = await client.flattenVolume(name, line.onProgress);
    line.finish();
    if (flag(args, 'json')) printJson(io, { volume: name, bytes: out.bytes });
    else io.out(`flattened ${name}: ${out.bytes} bytes copied from its snapshot\n`);
    return 0;
  }),
};

/** `basalt volume import VOLUME --diff FILE`. */
export const importDiff: Command = {
  name: 'import', summary: "apply a diff file (basalt snapshot diff) to a volume, then snapshot it with the diff's name", usage: 'VOLUME --diff FILE [--json]',
  options: { ...clusterOptions, ...json, diff: { type: 'string' } }, positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    const volume = positional(args, 1, 'VOLUME --diff FILE')[0]!;
    const file = str(args, 'diff');
    if (file === undefined || file === '') throw invalidArgument('--diff FILE is required');
    const line = progressLine(`import ${volume}`, io);
    const out = await client.importDiff(volume, file, { onProgress: line.onProgress });
    line.finish();
    if (flag(args, 'json')) printJson(io, { volume, file, bytes: out.bytes, snapshot: out.snapshot.name });
    else io.out(`applied ${out.bytes} bytes from ${file} to ${volume}; snapshot ${volume}@${out.snapshot.name} taken\n`);
    return 0;
  }),
};
