import { join } from 'node:path';
import type { ClusterFile } from './cluster-file.js';

/**
 * The shape of the embedded default cluster: 3 metad members, 3 chunk servers in zones a, b and c,
 * and one NBD agent, all on 127.0.0.1. Ports are consecutive from a base port, so one number moves
 * the whole cluster (two local clusters need two bases).
 */
export interface LayoutOptions {
  dir: string;
  basePort: number;
  nbdPort: number;
  /** Chunk servers; default 3. */
  chunkServers?: number;
}

export const defaultBasePort = 7100;
export const defaultNbdPort = 10809;
/** Where `basalt agent` listens unless told otherwise. */
export const defaultNbdListen = `127.0.0.1:${defaultNbdPort}`;
const metadCount = 3;
/** Chunk server i is in zone i mod 3: three servers, three zones, as a replication factor of 3 wants. */
const chunkZones = ['zone-a', 'zone-b', 'zone-c'] as const;
export const chunkServersDefault = 3;
/** Chunk servers take ports base+20.. and their metrics base+30..: ten fit before the agent's base+40. */
export const chunkServersMax = 10;

export function planLayout({ dir, basePort, nbdPort, chunkServers = chunkServersDefault }: LayoutOptions): ClusterFile {
  const metad = Array.from({ length: metadCount }, (_, i) => ({
    id: `m${i + 1}`, address: portAt(basePort, i), metrics: portAt(basePort, 10 + i), console: portAt(basePort, 3 + i), dataDir: join(dir, 'metad', `m${i + 1}`), log: join(dir, 'logs', `metad-m${i + 1}.log`), pid: 0,
  }));
  const agent = { id: 'agent', nbd: `127.0.0.1:${nbdPort}`, metrics: portAt(basePort, 40), log: join(dir, 'logs', 'agent.log'), pid: 0 };
  return withChunkServers({ version: 1, dir, state: 'starting', supervisorPid: 0, console: `http://${portAt(basePort, 3)}/`, metad, chunkd: [], agent, kekFile: join(dir, 'kek') }, chunkServers);
}

/** The layout with chunk servers added up to `count` (existing ones keep their ids, ports and folders). */
export function withChunkServers(file: ClusterFile, count: number): ClusterFile {
  // m1 listens on the base port (planLayout).
  const base = Number(file.metad[0]!.address.split(':')[1]);
  const chunkd = [...file.chunkd];
  for (let i = chunkd.length; i < count; i++) {
    chunkd.push({
      id: `c${i + 1}`, zone: chunkZones[i % chunkZones.length]!, address: portAt(base, 20 + i), metrics: portAt(base, 30 + i),
      dataDir: join(file.dir, 'chunkd', `c${i + 1}`), log: join(file.dir, 'logs', `chunkd-c${i + 1}.log`), pid: 0,
    });
  }
  return { ...file, chunkd };
}

function portAt(basePort: number, offset: number): string {
  return `127.0.0.1:${basePort + offset}`;
}
