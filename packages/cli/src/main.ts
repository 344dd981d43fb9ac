import { parseArgs } from 'node:util';
import { BasaltError, ErrorCode, invalidArgument } from '@basalt/stdx';
import type { Command, CommandGroup, Io } from './command.js';
import { errorHint, errorText } from './error-hints.js';

/**
 * Runs `basalt <args>`; returns the exit code. Errors print their code and message. `groups`
 * defaults to every command, loaded on the first call (a process that runs one long-lived command,
 * such as the agent, passes its own group and loads no other command's modules).
 */
export async function main(argv: readonly string[], io: Io, groups?: readonly CommandGroup[]): Promise<number> {
  try {
    groups ??= (await import('./commands/index.js')).commandGroups;
    const found = findCommand(argv, groups, io);
    if (found === undefined) return argv.length === 0 ? 2 : 0;
    const { command, rest } = found;
    const parsed = parseArgs({ args: [...rest], options: command.options, allowPositionals: command.positionals ?? false, strict: true });
    return await command.run({ values: parsed.values, positionals: parsed.positionals }, io);
  } catch (err) {
    return reportError(err, io, argv.includes('--json'));
  }
}

function findCommand(argv: readonly string[], groups: readonly CommandGroup[], io: Io): { command: Command; rest: readonly string[] } | undefined {
  const [groupName, commandName] = argv;
  if (groupName === undefined || groupName === 'help' || groupName === '--help' || groupName === '-h') {
    io.out(help(groups));
    return undefined;
  }
  const group = groups.find((g) => g.name === groupName);
  if (group === undefined) throw invalidArgument(`unknown command "${groupName}"; run "basalt help"`);
  const direct = group.commands.find((c) => c.name === '');
  if (direct !== undefined) return { command: direct, rest: argv.slice(1) };
  if (commandName === undefined || commandName === '--help') {
    io.out(help([group]));
    return undefined;
  }
  const command = group.commands.find((c) => c.name === commandName);
  if (command === undefined) throw invalidArgument(`unknown command "${groupName} ${commandName}"; run "basalt ${groupName} --help"`);
  return { command, rest: argv.slice(2) };
}

function help(groups: readonly CommandGroup[]): string {
  const lines = ['usage: basalt <command> [flags]', ''];
  for (const g of groups) {
    for (const c of g.commands) lines.push(`  basalt ${[g.name, c.name].filter((s) => s !== '').join(' ')} ${c.usage}`.trimEnd(), `      ${c.summary}`);
  }
  lines.push('', 'Cluster commands find the cluster from --metad host:port,..., BASALT_METAD, --cluster FILE, BASALT_CLUSTER or ./.basalt/cluster.json; --timeout 30s bounds a call.', '');
  return lines.join('\n');
}

function reportError(err: unknown, io: Io, json: boolean): number {
  const e = err instanceof BasaltError ? err : fromOther(err);
  const hint = errorHint(e);
  if (json) io.out(`${JSON.stringify({ error: { ...e.toJSON(), ...(hint !== undefined && { hint }) } }, null, 2)}\n`);
  io.err(`${errorText(e)}\n`);
  return e.code === ErrorCode.InvalidArgument ? 2 : 1;
}

function fromOther(err: unknown): BasaltError {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) return invalidArgument((err as Error).message);
  return new BasaltError(ErrorCode.Io, err instanceof Error ? (err.stack ?? err.message) : String(err));
}
