import { describe, expect, it } from 'vitest';
import type { Command } from '../state/index.js';
import type { ChunkServerLiveness } from './chunk-server-liveness.js';
import { MetaMetrics } from './metrics.js';
import type { RaftHost } from './raft-host.js';
import { RepairLoop } from './repair-loop.js';

/** A leader whose planner returns `plan` once, and whose proposals resolve when the test says so. */
function loop(plan: Command[]): { repair: RepairLoop; proposed: string[]; commit: () => void; log: string[] } {
  const proposed: string[] = [];
  const pending: (() => void)[] = [];
  let planned = false;
  const state = {
    listServers: () => [],
    planRepairs: () => {
      if (planned) return [];
      planned = true;
      return plan;
    },
  };
  const host = {
    isLeader: true,
    readStale: <T>(fn: (s: typeof state) => T): T => fn(state),
    propose: (cmd: Command) => {
      proposed.push('index' in cmd ? `${cmd.type} ${cmd.index}` : cmd.type);
      return new Promise((resolve) => pending.push(() => resolve(cmd.type === 'addRebuilding' ? { ok: false, error: { message: 'stale epoch' } } : { ok: true, value: undefined })));
    },
  } as unknown as RaftHost;
  const liveness = { silentMs: () => new Map(), suspect: () => new Set() } as unknown as ChunkServerLiveness;
  const log: string[] = [];
  const repair = new RepairLoop(host, liveness, { intervalMs: 3_600_000, downAfterMs: 1000, downOutIntervalMs: 60_000, metrics: new MetaMetrics(), log: (l) => log.push(l) });
  return { repair, proposed, log, commit: () => pending.splice(0).forEach((r) => r()) };
}

describe('the repair loop', () => {
  it('proposes a round\'s commands together, so they share Raft batches, and logs each outcome', async () => {
    const drop = (index: number): Command => ({ type: 'dropReplica', name: 'v', index, serverId: 'c4', expectedEpoch: 3, reason: 'out' });
    const { repair, proposed, commit, log } = loop([drop(0), drop(1), { type: 'addRebuilding', name: 'v', index: 2, serverId: 'c1', expectedEpoch: 5 }]);
    repair.start();
    try {
      repair.nudge();
      // All three are in flight before any commits.
      expect(proposed).toEqual(['dropReplica 0', 'dropReplica 1', 'addRebuilding 2']);
      commit();
      await new Promise((resolve) => setImmediate(resolve));
      expect(log).toEqual([
        'repair: drop c4 from extent 0 of v at epoch 3 (out)',
        'repair: drop c4 from extent 1 of v at epoch 3 (out)',
        'repair: rebuild extent 2 of v on c1 at epoch 5 refused: stale epoch',
      ]);
    } finally {
      repair.stop();
    }
  });
});
