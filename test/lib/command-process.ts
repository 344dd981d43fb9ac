/**
 * Processes that are not `node script` (ProcessScope in process.ts starts only those): etcd, or
 * anything run through `ip netns exec`, which execs the command so the PID is the command's own.
 * They satisfy process.ts's TestProcess, so its waitFor/stopProcess/tail work on them.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { signalPid, stopProcess, type Signal, type TestProcess } from './process.js';

/** Starts `command args` with stdout and stderr appended to `logPath`. */
export function spawnCommand(name: string, command: string, args: readonly string[], logPath: string): TestProcess {
  const fd = openSync(logPath, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let hasExited = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      hasExited = true;
      resolve({ code, signal });
    });
    child.once('error', () => {
      hasExited = true;
      resolve({ code: null, signal: null });
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${name} (${command})`);
  return {
    name, pid, logPath, child, exited,
    get hasExited() {
      return hasExited;
    },
    signal(sig: Signal) {
      if (!hasExited) signalPid(pid, sig);
    },
    log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
  };
}

/** The processes one test or benchmark started with spawnCommand; stopAll() ends them by PID. */
export class CommandProcesses {
  private readonly started: TestProcess[] = [];

  spawn(name: string, command: string, args: readonly string[], logPath: string): TestProcess {
    const p = spawnCommand(name, command, args, logPath);
    this.started.push(p);
    return p;
  }

  async stopAll(graceMs = 3_000): Promise<void> {
    await Promise.all(this.started.splice(0).map((p) => stopProcess(p, graceMs)));
  }
}
