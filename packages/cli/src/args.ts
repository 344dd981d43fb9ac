import { invalidArgument } from '@basalt/stdx';
import type { ParsedArgs } from './command.js';

/** Typed access to parsed flags, with messages that name the flag and what is allowed. */

export function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidArgument(`--${name} takes a value`);
  return v;
}

export function requireStr(args: ParsedArgs, name: string): string {
  const v = str(args, name);
  if (v === undefined || v === '') throw invalidArgument(`--${name} is required`);
  return v;
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** The value of --name, one of `choices` (`fallback` when the flag is absent). */
export function oneOf<T extends string>(args: ParsedArgs, name: string, choices: readonly T[], fallback: T): T {
  const v = str(args, name) ?? fallback;
  const known = choices.find((c) => c === v);
  if (known === undefined) throw invalidArgument(`--${name} must be one of ${choices.join(', ')}, got "${v}"`);
  return known;
}

export function int(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const v = str(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw invalidArgument(`--${name} must be an integer from ${min} to ${max}, got "${v}"`);
  }
  return n;
}

const units: Record<string, number> = {
  '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4, p: 1024 ** 5, pib: 1024 ** 5,
};

/** "10GiB", "64M" (binary), "1.5TB" (decimal), "4096" -> bytes (a whole number). */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  const unit = m ? units[(m[2] ?? '').toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Number(m[1]) * unit : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw invalidArgument(`${what} must be a size such as 4096, 64MiB, 10GiB or 1TB, got "${text}"`);
  }
  return bytes;
}

export function size(args: ParsedArgs, name: string): number | undefined {
  const v = str(args, name);
  return v === undefined ? undefined : parseSize(v, `--${name}`);
}

export function formatBytes(n: number): string {
  const names = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < names.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  return `${v}${names[i]}`;
}

export function onePositional(args: ParsedArgs, what: string): string {
  if (args.positionals.length !== 1) throw invalidArgument(`expected one ${what}, got ${args.positionals.length}`);
  return args.positionals[0] as string;
}
