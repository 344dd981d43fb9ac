import type { Ready } from '@basalt/raft';

/**
 * What the apply step of a Ready does while a local snapshot may be encoding the state:
 * - `apply`: no snapshot is being encoded; apply now.
 * - `defer`: a snapshot is being encoded; the committed entries wait, in log order after those
 *   already waiting, and are applied when the encode is done, so the encoded state is exactly
 *   the state at the snapshot's index.
 * - `cancel`: a snapshot is being encoded, but the Ready installs a leader's snapshot (which
 *   replaces the state the encoder reads) or commits a conf change. The encode is dropped, the
 *   waiting entries are applied, then this Ready's: a conf change is applied in log order as
 *   soon as the core hands it out, as without a snapshot, so the core never campaigns or
 *   accepts the next conf change under a configuration that is not the one it reported applied.
 * Invariant: entries are applied in log order, each once; `defer` never holds a conf change.
 */
export type ApplyPlan = 'apply' | 'defer' | 'cancel';

export function planApply(encoding: boolean, rd: Pick<Ready, 'snapshot' | 'committedEntries'>): ApplyPlan {
  if (!encoding) return 'apply';
  if (rd.snapshot !== undefined || rd.committedEntries.some((e) => e.type === 'ConfChange')) return 'cancel';
  return 'defer';
}
