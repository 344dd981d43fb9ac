import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built `basalt` entry point, which every local process runs with a different command. */
export const basaltBin = fileURLToPath(new URL('../bin.js', import.meta.url));

/**
 * V8's old-space cap of every local process, as the deployments start them (deploy/src/topology.ts,
 * `budgets`): without it V8 lets a metad's heap grow to ~300 MB of garbage under a snapshot of
 * 100,000 volumes (about 480 MiB RSS against 240 with the cap; bench/RESULTS.md, bench:scale).
 */
const heapFlag = '--max-old-space-size=160';

/** Starts `basalt ARGS...` with stdout and stderr appended to `logPath`. */
export function spawnBasalt(args: readonly string[], logPath: string, options: { detached?: boolean; env?: Readonly<Record<string, string>> } = {}): ChildProcess {
  mkdirSync(dirname(logPath), { recursive: true });
  const fd = openSync(logPath, 'a');
  try {
    return spawn(process.execPath, [heapFlag, basaltBin, ...args], { stdio: ['ignore', fd, fd], detached: options.detached ?? false, env: { ...process.env, ...options.env } });
  } finally {
    closeSync(fd);
  }
}

/**
 * True when `pid` is a live process whose command line mentions `marker` (the cluster folder), so a
 * stale cluster file never makes us signal an unrelated process that reused the pid.
 */
export function isOurProcess(pid: number, marker: string): boolean {
  if (pid <= 0) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg.includes(marker));
  } catch {
    return false;
  }
}

/** The last `lines` lines of a log file, for error messages. */
export function tail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `intervalMs` until it returns true; false when `timeoutMs` passes first. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

/** Whether something at host:port accepts a TCP connection within `timeoutMs`. */
export function accepts(hostPort: string, timeoutMs: number): Promise<boolean> {
  const i = hostPort.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = connect({ host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
