import type { ParseArgsConfig } from 'node:util';

/** Where a command writes and what it sees; tests pass buffers and their own env and cwd, bin.ts the process's. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** Working directory: where ./.basalt/cluster.json is looked for and --dir is resolved. */
  cwd: string;
}

/** One `basalt <group> <name>` command (or `basalt <group>` when the group has a single command). */
export interface Command {
  name: string;
  /** One line for `basalt help`. */
  summary: string;
  /** Argument synopsis, e.g. "NAME --size SIZE [--json]". */
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Whether positional arguments are allowed. */
  positionals?: boolean;
  /** Runs with parsed flags; returns the exit code. Throw a BasaltError for failures. */
  run(args: ParsedArgs, io: Io): Promise<number>;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** A word after `basalt`, and its commands. A group with one unnamed command ('') runs it directly. */
export interface CommandGroup {
  name: string;
  summary: string;
  commands: Command[];
}
