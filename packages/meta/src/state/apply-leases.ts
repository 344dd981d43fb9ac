import { ErrorCode } from '@basalt/stdx';
import type { AcquireLeaseCommand, ReleaseLeaseCommand } from './commands.js';
import { findVolume } from './lookup.js';
import type { StateData } from './records.js';
import { fail, ok, type Result } from './result.js';
import type { LeaseView, ReleaseView } from './views.js';

/**
 * The writer lease: at most one writer per volume, fenced by the volume generation, which
 * grows on every grant. Chunk servers and the client carry the generation so that a writer
 * whose lease was taken over is refused.
 */

export function applyAcquireLease(data: StateData, cmd: AcquireLeaseCommand): Result<LeaseView> {
  const found = findVolume(data, cmd.name);
  if (!found.ok) return found;
  const volume = found.value;
  const held = volume.lease;
  if (held !== null && held.clientId === cmd.clientId) {
    // A retried acquire by the holder: the same grant again, no new generation.
    return ok({ volume: volume.name, clientId: held.clientId, generation: volume.generation, acquiredAtMs: held.acquiredAtMs, fenced: null });
  }
  if (held !== null && !cmd.force) {
    return fail(ErrorCode.LeaseConflict, `volume ${volume.name} is open for writing by ${held.clientId}; open it read-only or force a takeover`, {
      volume: volume.name,
      holder: held.clientId,
      generation: volume.generation,
    });
  }
  volume.generation += 1;
  volume.lease = { clientId: cmd.clientId, acquiredAtMs: cmd.nowMs };
  return ok({ volume: volume.name, clientId: cmd.clientId, generation: volume.generation, acquiredAtMs: cmd.nowMs, fenced: held?.clientId ?? null });
}

/** Releasing a lease already released at the same generation is a no-op; anything else stale is LeaseFenced. */
export function applyReleaseLease(data: StateData, cmd: ReleaseLeaseCommand): Result<ReleaseView> {
  const found = findVolume(data, cmd.name);
  if (!found.ok) return found;
  const volume = found.value;
  const held = volume.lease;
  const current = cmd.generation === volume.generation;
  if (held === null && current) return ok({ volume: volume.name, generation: volume.generation });
  if (held === null || held.clientId !== cmd.clientId || !current) {
    return fail(ErrorCode.LeaseFenced, `the lease of ${cmd.clientId} at generation ${cmd.generation} on volume ${volume.name} is no longer current`, {
      volume: volume.name,
      clientId: cmd.clientId,
      generation: cmd.generation,
      currentGeneration: volume.generation,
      holder: held?.clientId ?? null,
    });
  }
  volume.lease = null;
  return ok({ volume: volume.name, generation: volume.generation });
}
