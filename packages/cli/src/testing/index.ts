import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Io } from '../command.js';

/** An Io that keeps what a command prints, for tests. */
export interface CapturedIo extends Io {
  stdout: string;
  stderr: string;
}

/**
 * An Io for running `main` in a test, hermetic by default: no environment variables but `env`,
 * and a working directory of its own (an empty folder, so no ./.basalt/cluster.json of the
 * developer's checkout is found) unless `cwd` is given.
 */
export function captureIo(options: { env?: Record<string, string>; cwd?: string } = {}): CapturedIo {
  const io: CapturedIo = {
    stdout: '',
    stderr: '',
    env: options.env ?? {},
    cwd: options.cwd ?? emptyDir(),
    out: (text) => void (io.stdout += text),
    err: (text) => void (io.stderr += text),
  };
  return io;
}

let empty: string | undefined;

/** One empty folder per test process, removed when it exits. */
function emptyDir(): string {
  if (empty === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'basalt-cli-cwd-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    empty = dir;
  }
  return empty;
}
