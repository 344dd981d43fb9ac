import { readFileSync } from 'node:fs';

/** Peak resident set size of a live process in KiB (VmHWM), or undefined when it is gone. */
export function peakRssKiB(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** utime + stime of pid in seconds (/proc/PID/stat, clock ticks of 1/100 s); undefined when gone. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * The machine's free memory in MiB (MemFree of /proc/meminfo). Where the guest hands freed memory
 * back to its host, writes into new page-cache pages cost host page faults while much is free
 * (bench/RESULTS.md, "the prefill row profiled"), so first-write rows depend on it.
 */
export function memFreeMiB(): number {
  const m = /^MemFree:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}
