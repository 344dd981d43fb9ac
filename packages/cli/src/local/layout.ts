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
}

export const defaultBasePort = 7100;
export const defaultNbdPort = 10809;
/** Where `basalt agent` listens unless told otherwise. */
export const defaultNbdListen = `127.0.0.1:${defaultNbdPort}`;
const metadCount = 3;
const chunkZones = ['zone-a', 'zone-b', 'zone-c'] as const;

export function planLayout({ dir, basePort, nbdPort }: LayoutOptions): ClusterFile {
  const at = (offset: number): string => `127.0.0.1:${basePort + offset}`;
  const metad = Array.from({ length: metadCount }, (_, i) => ({
    id: `m${i + 1}`, address: at(i), metrics: at(10 + i), console: at(3 + i), dataDir: join(dir, 'metad', `m${i + 1}`), log: join(dir, 'logs', `metad-m${i + 1}.log`), pid: 0,
  }));
  const chunkd = chunkZones.map((zone, i) => ({
    id: `c${i + 1}`, zone, address: at(20 + i), metrics: at(30 + i), dataDir: join(dir, 'chunkd', `c${i + 1}`), log: join(dir, 'logs', `chunkd-c${i + 1}.log`), pid: 0,
  }));
  const agent = { id: 'agent', nbd: `127.0.0.1:${nbdPort}`, metrics: at(40), log: join(dir, 'logs', 'agent.log'), pid: 0 };
  return { version: 1, dir, state: 'starting', supervisorPid: 0, console: `http://${at(3)}/`, metad, chunkd, agent };
}
