import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FileKeyProvider, type KeyProvider } from '@basalt/client';
import { str } from './args.js';
import { clusterFileOf } from './cluster.js';
import type { Io, ParsedArgs } from './command.js';

/**
 * The key provider of encrypted volumes (docs/security.md): a file KEK from
 * --kek-file, BASALT_KEK_FILE or the cluster file's `kekFile`; undefined when none is given
 * (plaintext volumes need none). Call after the cluster was resolved.
 */
export function keyProviderOf(args: ParsedArgs, io: Io): KeyProvider | undefined {
  const path = kekFileOf(args, io);
  return path === undefined ? undefined : new FileKeyProvider(path);
}

/** The absolute path of the KEK file keyProviderOf reads (undefined when none is given). */
export function kekFileOf(args: ParsedArgs, io: Io): string | undefined {
  const env = io.env.BASALT_KEK_FILE;
  const path = str(args, 'kek-file') ?? (env !== undefined && env !== '' ? env : undefined) ?? kekFileOfCluster(args, io);
  return path === undefined ? undefined : resolve(io.cwd, path);
}

function kekFileOfCluster(args: ParsedArgs, io: Io): string | undefined {
  return clusterFileOf(args, io)?.kekFile;
}

/** Writes a new random KEK (64 hex digits, mode 0600) at `path` unless a file is there. */
export function ensureKekFile(path: string): void {
  if (existsSync(path)) return;
  writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
}
