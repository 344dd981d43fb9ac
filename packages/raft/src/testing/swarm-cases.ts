import { expect } from 'vitest';
import { describeFailures, runSwarm, type SwarmSummary } from './swarm.js';

/** Fault kinds every swarm of the test suite must have injected at least once. */
const requiredFaults = [
  'crash', 'restart', 'ready_crash', 'crash_on_elect', 'crash_on_append', 'crash_on_commit', 'crash_sent_unsynced',
  'partition_isolate', 'partition_split', 'partition_one_way', 'partition_leader_mute',
  'dropped', 'duplicated', 'transfer_leader', 'conf_AddLearner', 'conf_AddNode', 'conf_RemoveNode',
  'figure8_schedule', 'check_quorum_off', 'commit_not_announced', 'crash_on_ack', 'partition_leader_isolated_long', 'partition_leader_isolated_long_without_check_quorum', 'stale_leader_write', 'conf_burst', 'partition_on_conf_change',
  'leader_loss_reported', 'false_leader_loss_report',
];

/**
 * A slice of the seeded swarm that `npm test` runs (split over several test
 * files so vitest runs them in parallel). Asserts every run passed its safety,
 * liveness and linearizability checks, and that the faults really happened.
 */
export function swarmSlice(nodes: number, firstSeed: number, count: number): SwarmSummary {
  const summary = runSwarm({ nodes }, firstSeed, count);
  expect(summary.failed.length, describeFailures(summary)).toBe(0);
  for (const fault of requiredFaults) expect(summary.faults[fault] ?? 0, `fault ${fault} never injected`).toBeGreaterThan(0);
  expect(summary.snapshotsInstalled, 'no follower installed a snapshot').toBeGreaterThan(0);
  expect(summary.commits).toBeGreaterThan(count * 10);
  expect(summary.readsChecked).toBeGreaterThan(count * 10);
  return summary;
}
