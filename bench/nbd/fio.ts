import { spawn } from 'node:child_process';

/** One fio job through NBD (`--ioengine=nbd`: one connection per job), bounded in time. */
export interface FioJob {
  readonly name: string;
  readonly rw: 'read' | 'write' | 'randread' | 'randwrite';
  readonly blockSize: string;
  readonly depth: number;
  /** fsync=1: an NBD FLUSH after every write. */
  readonly flush?: boolean;
  /** Sequential jobs only: bytes skipped after each block (fio `rw=write:HOLE`). */
  readonly holeBytes?: number;
  /** Stop after this many I/Os (fio `number_ios`). */
  readonly ios?: number;
  /** Rows of the table report MiB/s (large blocks) or IOPS (small ones). */
  readonly unit: 'MiB/s' | 'IOPS';
}

export interface FioResult {
  readonly mibPerS: number;
  readonly iops: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export const jobs: readonly FioJob[] = [
  { name: 'seq write 1M QD8', rw: 'write', blockSize: '1M', depth: 8, unit: 'MiB/s' },
  { name: 'seq read 1M QD8', rw: 'read', blockSize: '1M', depth: 8, unit: 'MiB/s' },
  { name: 'rand write 4K QD1', rw: 'randwrite', blockSize: '4k', depth: 1, unit: 'IOPS' },
  { name: 'rand write 4K QD32', rw: 'randwrite', blockSize: '4k', depth: 32, unit: 'IOPS' },
  { name: 'rand read 4K QD1', rw: 'randread', blockSize: '4k', depth: 1, unit: 'IOPS' },
  { name: 'rand read 4K QD32', rw: 'randread', blockSize: '4k', depth: 32, unit: 'IOPS' },
  { name: 'write 4K + flush QD1', rw: 'randwrite', blockSize: '4k', depth: 1, flush: true, unit: 'IOPS' },
];

interface FioJson {
  jobs: { error: number; read: FioSide; write: FioSide }[];
}
interface FioSide {
  bw_bytes: number;
  iops: number;
  clat_ns: { max: number; percentile?: Record<string, number> };
}

/**
 * Runs fio against uri. timeBased: run for runtimeS over [0, sizeBytes) (wrapping); otherwise
 * one pass over the range (the prefill). Killed after runtimeS + 120 s at the latest. When
 * `stop` resolves first, fio is interrupted (SIGINT: it ends its jobs and still reports them).
 */
export function runFio(uri: string, job: FioJob, sizeBytes: number, runtimeS: number, timeBased: boolean, cwd: string, stop?: Promise<unknown>): Promise<FioResult> {
  const args = [
    `--name=${job.rw}`, '--ioengine=nbd', `--uri=${uri}`, `--rw=${job.rw}${job.holeBytes === undefined ? '' : `:${job.holeBytes}`}`, `--bs=${job.blockSize}`, `--iodepth=${job.depth}`,
    `--size=${sizeBytes}`, '--randrepeat=0', '--norandommap', '--output-format=json',
    ...(job.flush === true ? ['--fsync=1'] : []),
    ...(job.ios === undefined ? [] : [`--number_ios=${job.ios}`]),
    ...(timeBased ? ['--time_based', `--runtime=${runtimeS}`] : []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('fio', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const limitS = (timeBased ? runtimeS : 600) + 120;
    const timer = setTimeout(() => child.kill('SIGKILL'), limitS * 1000);
    let interrupted = false;
    void stop?.then(() => {
      interrupted = true;
      child.kill('SIGINT');
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0 && !interrupted) return reject(new Error(`fio ${job.name} against ${uri} failed (exit ${code}): ${err.trim() || out.slice(-500)}`));
      try {
        resolve(parse(out, job));
      } catch (e) {
        reject(new Error(`fio ${job.name} against ${uri}: cannot read its output (${String(e)}): ${err.trim()}`));
      }
    });
  });
}

function parse(out: string, job: FioJob): FioResult {
  const json = JSON.parse(out.slice(out.indexOf('{'))) as FioJson;
  const j = json.jobs[0]!;
  if (j.error !== 0) throw new Error(`fio reported error ${j.error}`);
  const side = job.rw === 'read' || job.rw === 'randread' ? j.read : j.write;
  const pct = side.clat_ns.percentile ?? {};
  return { mibPerS: side.bw_bytes / 2 ** 20, iops: side.iops, p50Ms: (pct['50.000000'] ?? 0) / 1e6, p99Ms: (pct['99.000000'] ?? 0) / 1e6, maxMs: side.clat_ns.max / 1e6 };
}
