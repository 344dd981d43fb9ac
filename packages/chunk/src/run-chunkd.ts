import { logLine } from '@basalt/stdx';
import { startChunkd, type ChunkdOptions } from './chunkd.js';

/**
 * Runs chunkd in the foreground until SIGTERM or SIGINT, then shuts down cleanly. Prints one
 * JSON line {"event":"ready",...} on stdout once serving, for scripts and tests that spawn it.
 */
export async function runChunkd(opts: ChunkdOptions): Promise<void> {
  const log = (line: string): void => void process.stderr.write(logLine(`[chunkd ${opts.id}] ${line}`));
  const chunkd = await startChunkd({ ...opts, log });
  console.log(JSON.stringify({ event: 'ready', id: chunkd.id, address: chunkd.address, metrics: chunkd.metricsAddress ?? null, pid: process.pid }));
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await chunkd.close();
}
