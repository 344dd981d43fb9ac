import type { Io } from './command.js';

/** Prints a value as indented JSON (the --json output of every command). */
export function printJson(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows as an aligned table with a header. */
export function printTable(io: Io, header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  io.out(`${[line(header), ...rows.map(line)].join('\n')}\n`);
}
