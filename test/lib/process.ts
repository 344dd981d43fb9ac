/**
 * Real processes for cross-process tests: spawn the built CLI (or any command) with its
 * stdout and stderr in a log file, wait until it is ready, signal it by PID, and clean up
 * everything a test started.
 *
 * Typical use:
 *   const scope = new ProcessScope();           // one per test file (or per test)
 *   afterAll(() => scope.cleanup());            // kills what is still running, removes temp dirs
 *   const dir = scope.tempDir('meta');
 *   const [port] = await freePorts(1);
 *   const p = scope.spawnCli('m1', ['meta', 'start', '--listen', `127.0.0.1:${port}`, ...]);
 *   await waitForPort(port, { process: p });    // or: await waitForLog(p, /serving on/)
 *   p.signal('SIGKILL'); await p.exited;
 *
 * Compiled JS runs (packages/cli/dist/bin.js): run `pnpm run build` (or
 * `pnpm exec tsc -b packages/cli`) before these tests.
 *
 * Hermetic: a process starts in an empty folder of its own (not the checkout, where a
 * ./.basalt/cluster.json of the developer's local cluster may lie) unless `cwd` is given, with
 * this environment, from which test/lib/hermetic-setup.ts removed every BASALT_* variable.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** The built `basalt` command. */
export const cliBin = join(repoRoot, 'packages/cli/dist/bin.js');

export type Signal = 'SIGKILL' | 'SIGTERM' | 'SIGINT' | 'SIGSTOP' | 'SIGCONT';

/** A process started by a ProcessScope. */
export interface TestProcess {
  readonly name: string;
  readonly pid: number;
  /** File holding the process's stdout and stderr (interleaved, as written). */
  readonly logPath: string;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once the process has exited. */
  readonly hasExited: boolean;
  /** Sends a signal to this process by PID; a no-op once it has exited. */
  signal(sig: Signal): void;
  /** The log so far. */
  log(): string;
}

export interface SpawnOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory; by default an empty folder of the scope (ProcessScope) or of the call (runCli). */
  cwd?: string;
}

/**
 * Owns the processes and temp dirs of a test: cleanup() stops every process still running
 * (SIGCONT so a stopped one can die, SIGTERM, then SIGKILL after a grace period) and removes the
 * temp dirs. Processes are stopped by PID only.
 */
export class ProcessScope {
  private readonly processes: TestProcess[] = [];
  private readonly dirs: string[] = [];
  /** Where logs go; created on first use. */
  private logDir: string | undefined;
  /** The empty working directory of processes started without `cwd`; created on first use. */
  private workDir: string | undefined;

  /** A fresh temporary directory, removed by cleanup(). */
  tempDir(prefix = 'basalt-test'): string {
    const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    this.dirs.push(dir);
    return dir;
  }

  /**
   * Starts `command ...args` (any executable: node, etcd, `ip netns exec ...`), output to
   * `<logDir>/<name>.log` (appended across restarts); cleanup() stops it by PID.
   */
  spawn(name: string, command: string, args: readonly string[], options: SpawnOptions = {}): TestProcess {
    this.logDir ??= this.tempDir('basalt-logs');
    const logPath = join(this.logDir, `${name}.log`);
    const fd = openSync(logPath, 'a');
    const child = spawn(command, args, {
      cwd: options.cwd ?? (this.workDir ??= this.tempDir('basalt-cwd')),
      env: { ...process.env, ...options.env },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const proc = trackProcess(name, command, child, logPath);
    this.processes.push(proc);
    return proc;
  }

  /** Starts `node script ...args` with this Node binary. */
  spawnNode(name: string, script: string, args: readonly string[], options: SpawnOptions = {}): TestProcess {
    return this.spawn(name, process.execPath, [script, ...args], options);
  }

  /** Starts the built `basalt` CLI with `args`. */
  spawnCli(name: string, args: readonly string[], options: SpawnOptions = {}): TestProcess {
    if (!existsSync(cliBin)) throw new Error(`${cliBin} is missing: run "pnpm run build" first`);
    return this.spawnNode(name, cliBin, args, options);
  }

  /** Every process started so far (running or not). */
  get all(): readonly TestProcess[] {
    return this.processes;
  }

  /** Stops every process still running and removes the temp dirs (logs included). */
  async cleanup(graceMs = 3_000): Promise<void> {
    await Promise.all(this.processes.map((p) => stopProcess(p, graceMs)));
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

function trackProcess(name: string, command: string, child: ChildProcess, logPath: string): TestProcess {
  let exitedFlag = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedFlag = true;
      resolve({ code, signal });
    });
    child.once('error', () => {
      exitedFlag = true;
      resolve({ code: null, signal: null });
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${name} (${command})`);
  return {
    name, pid, logPath, child, exited,
    get hasExited() {
      return exitedFlag;
    },
    signal(sig: Signal) {
      if (!exitedFlag) signalPid(pid, sig);
    },
    log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
  };
}

/** SIGCONT, SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stopProcess(p: TestProcess, graceMs = 3_000): Promise<void> {
  if (p.hasExited) return;
  p.signal('SIGCONT');
  p.signal('SIGTERM');
  const timer = setTimeout(() => p.signal('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
}

/** Sends a signal to a PID; ignores a process that is already gone. */
export function signalPid(pid: number, sig: Signal): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Linux hands out local ports for outgoing connections from 32768 up, so a port below that is
 * taken only by a listener. Test servers take theirs from [20000, 32768): a port the kernel gave
 * to listen(0) lies in that ephemeral range and can be taken by another test's outgoing
 * connection between the check and the bind.
 *
 * A port is handed out at most once per test file: a cluster reserves the ports of all its
 * members before it starts any, so a port checked free for one member but not yet bound must not
 * be checked free again for the next.
 */
const portsLow = 20_000;
const portsHigh = 32_768;
const handedOut = new Set<number>();

/** n distinct ports below the ephemeral range, each free a moment ago and never handed out before. */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let attempt = 0; ports.length < n && attempt < 50 * n; attempt++) {
    const port = portsLow + Math.floor(Math.random() * (portsHigh - portsLow));
    if (!handedOut.has(port) && (await allBindable(port, 1))) {
      handedOut.add(port);
      ports.push(port);
    }
  }
  if (ports.length < n) throw new Error(`only ${ports.length} of ${n} free ports found between ${portsLow} and ${portsHigh}`);
  return ports;
}

/**
 * A base port for `basalt up --base-port` (which uses `span` consecutive ports from it): every
 * port of the range was free a moment ago and none was handed out before.
 */
export async function freePortRange(span: number): Promise<number> {
  const high = portsHigh - span;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = portsLow + Math.floor(Math.random() * (high - portsLow));
    const range = Array.from({ length: span }, (_, i) => base + i);
    if (range.some((port) => handedOut.has(port))) continue;
    if (await allBindable(base, span)) {
      for (const port of range) handedOut.add(port);
      return base;
    }
  }
  throw new Error(`no ${span} consecutive free ports found between ${portsLow} and ${portsHigh}`);
}

async function allBindable(base: number, span: number): Promise<boolean> {
  const bound: ReturnType<typeof createServer>[] = [];
  try {
    for (let port = base; port < base + span; port++) {
      const s = createServer();
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', resolve);
      });
      bound.push(s);
    }
    return true;
  } catch {
    return false;
  } finally {
    await Promise.all(bound.map((s) => new Promise((r) => s.close(r))));
  }
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Fail early (with its log) if this process exits while waiting. */
  process?: TestProcess;
}

/**
 * Polls `check` until it returns a value other than undefined/false, or throws after the
 * timeout with `what` and the last error. Errors thrown by `check` count as "not yet".
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    if (options.process?.hasExited === true) {
      throw new Error(`${options.process.name} exited while waiting for ${what}; log:\n${tail(options.process.log())}`);
    }
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= end) {
      const last = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
}

/** Resolves once something accepts TCP connections on host:port. */
export function waitForPort(port: number, options: WaitOptions & { host?: string } = {}): Promise<true> {
  const host = options.host ?? '127.0.0.1';
  return waitFor(`${host}:${port} to accept connections`, () => new Promise<true | undefined>((resolve) => {
    const socket = createConnection({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(undefined));
  }), options);
}

/** Resolves with the first match of `pattern` in the process's log. */
export function waitForLog(p: TestProcess, pattern: RegExp, options: WaitOptions = {}): Promise<RegExpMatchArray> {
  return waitFor(`${p.name} to log ${String(pattern)}`, () => p.log().match(pattern) ?? undefined, { process: p, ...options });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `basalt` CLI to completion (for one-shot commands), by default in an empty folder. */
export function runCli(args: readonly string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<CliResult> {
  const workDir = options.cwd === undefined ? mkdtempSync(join(tmpdir(), 'basalt-cli-cwd-')) : undefined;
  return new Promise<CliResult>((resolve, reject) => {
    execFile(process.execPath, [cliBin, ...args], {
      cwd: options.cwd ?? workDir, env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      if (code === null) reject(new Error(`basalt ${args.join(' ')} failed to run: ${err?.message ?? ''}\n${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  }).finally(() => {
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });
}

/** Runs the CLI and parses its stdout as JSON; throws with stderr if it exits non-zero. */
export async function runCliJson<T = unknown>(args: readonly string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<T> {
  const r = await runCli(args, options);
  if (r.code !== 0) throw new Error(`basalt ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** The last lines of a log, for failure messages. */
export function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** Fails the test unless the commands exist (the Debian packages are listed in scripts/system-packages.txt). */
export function requireCommands(...commands: string[]): void {
  const path = `/usr/bin:/usr/sbin:/bin:${process.env.PATH ?? ''}`.split(':');
  for (const c of commands) {
    if (!path.some((d) => existsSync(join(d, c)))) throw new Error(`${c} is not installed: run scripts/bootstrap.sh`);
  }
}
