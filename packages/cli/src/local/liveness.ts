import { join, resolve } from 'node:path';
import { BasaltError, ErrorCode, limits } from '@basalt/stdx';
import type { ClusterFile } from './cluster-file.js';
import { defaultClusterDir, metaEndpointsOf } from './cluster-file.js';
import { accepts, isOurProcess } from './processes.js';

/**
 * Throws BASALT_CLUSTER_NOT_RUNNING when the local cluster a cluster file describes is not
 * running: none of its metad processes is alive and no metad address accepts a TCP connection
 * within limits.cliLocalClusterProbeMs. A cluster that runs but is slow to answer passes, and
 * its calls keep their whole deadline. `cwd` is where the command runs, for the start hint.
 */
export async function assertLocalClusterRunning(file: ClusterFile, path: string, cwd: string): Promise<void> {
  if (file.metad.some((m) => isOurProcess(m.pid, file.dir))) return;
  const answered = await Promise.all(metaEndpointsOf(file).map((address) => accepts(address, limits.cliLocalClusterProbeMs)));
  if (answered.some(Boolean)) return;
  throw new BasaltError(
    ErrorCode.ClusterNotRunning,
    `the local cluster in ${file.dir} is not running (${path} says "${file.state}"; no metad process of it is alive and none of ${metaEndpointsOf(file).join(', ')} answers); start it with ${startCommand(file.dir, cwd)}`,
    { dir: file.dir, clusterFile: path, state: file.state },
  );
}

/** How to start the cluster in `dir` from `cwd`: the README's `npm start` when it is ./.basalt. */
export function startCommand(dir: string, cwd: string): string {
  if (resolve(dir) === join(resolve(cwd), defaultClusterDir)) return '"npm start" (or "pnpm basalt up")';
  return `"pnpm basalt up --dir ${dir}"`;
}
