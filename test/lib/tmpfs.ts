import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Data folders for chunk servers under one temp folder, some of them small tmpfs mounts: a real
 * ENOSPC needs a small filesystem. Not a ProcessScope temp dir: the mounts must go after the
 * processes using them stopped and before the folder is removed (call cleanup() after the
 * scope's). mount(8) needs root: CI runs as root; an unprivileged developer run skips the tests
 * that need it (`isRoot`).
 */
export const isRoot = process.getuid?.() === 0;

export class DataFolders {
  readonly root: string;
  private readonly mounts: string[] = [];

  constructor(prefix: string) {
    this.root = mkdtempSync(join(tmpdir(), prefix));
  }

  /** A folder `name` under the root; a tmpfs of `tmpfsMiB` mounted on it when given. */
  folder(name: string, tmpfsMiB?: number): string {
    const dir = join(this.root, name);
    mkdirSync(dir);
    if (tmpfsMiB !== undefined) {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsMiB}m`, 'tmpfs', dir]);
      this.mounts.push(dir);
    }
    return dir;
  }

  cleanup(): void {
    for (const m of this.mounts) execFileSync('umount', ['-l', m]);
    rmSync(this.root, { recursive: true, force: true });
  }
}
