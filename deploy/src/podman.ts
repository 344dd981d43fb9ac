import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Runs podman with deploy/podman/*.conf (runc, explicit ulimits, overlay storage). */

export const deployDir = join(dirname(fileURLToPath(import.meta.url)), '..');

export const podmanEnv: NodeJS.ProcessEnv = {
  ...process.env,
  CONTAINERS_CONF: join(deployDir, 'podman/containers.conf'),
  CONTAINERS_STORAGE_CONF: join(deployDir, 'podman/storage.conf'),
};

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command args`, bounded by `timeoutMs`; never rejects, the caller checks `code`. */
export function run(command: string, args: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(command, args, { env: podmanEnv, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr: error !== null && stderr === '' ? error.message : stderr });
    });
  });
}

export function podman(args: readonly string[], timeoutMs?: number): Promise<CommandResult> {
  return run('podman', args, timeoutMs);
}

/** Like podman(), but a non-zero exit is an error that names the command and its stderr. */
export async function podmanOk(args: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await podman(args, timeoutMs);
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}: ${withoutSystemdNoise(r.stderr)}`);
  return r.stdout;
}

/**
 * Without systemd podman cannot schedule health checks and says so on every start and removal; the
 * checks still run on demand (`podman healthcheck run`). Drops those lines from podman's stderr.
 */
export function withoutSystemdNoise(stderr: string): string {
  return stderr.split('\n').filter((l) => !l.includes('/run/systemd/private') && !l.includes('failed to connect to syslog')).join('\n').trim();
}
