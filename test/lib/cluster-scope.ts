/**
 * The processes of a test file that starts its own cluster (BasaltCluster or MetaCluster): after
 * all tests, the kept clusters close their clients first, then the scope stops every process and
 * removes the temp dirs.
 */
import { afterAll } from 'vitest';
import { ProcessScope } from './process.js';

export interface ClusterScope {
  readonly scope: ProcessScope;
  /** Returns `cluster`, to be closed after all tests of the file. */
  readonly keep: <C extends { close(): void }>(cluster: C) => C;
}

/** Call at the top level of a test file: registers the afterAll that cleans up. */
export function clusterScope(): ClusterScope {
  const scope = new ProcessScope();
  const kept: { close(): void }[] = [];
  afterAll(async () => {
    for (const c of kept.splice(0)) c.close();
    await scope.cleanup();
  });
  const keep = <C extends { close(): void }>(cluster: C): C => {
    kept.push(cluster);
    return cluster;
  };
  return { scope, keep };
}
