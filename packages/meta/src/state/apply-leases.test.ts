import { ErrorCode, MiB } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import type { AcquireLeaseCommand, ReleaseLeaseCommand } from './commands.js';
import { MetaState } from './meta-state.js';
import { must, refuse } from './test-fixtures.js';

function volumeState(): MetaState {
  const state = MetaState.empty();
  must(state, { type: 'createVolume', name: 'v', sizeBytes: 64 * MiB, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: 1 });
  return state;
}
const acquire = (clientId: string, force = false, nowMs = 10): AcquireLeaseCommand => ({ type: 'acquireLease', name: 'v', clientId, force, nowMs });
const release = (clientId: string, generation: number): ReleaseLeaseCommand => ({ type: 'releaseLease', name: 'v', clientId, generation });

describe('the writer lease', () => {
  it('a grant bumps the generation and names the holder', () => {
    const state = volumeState();
    expect(must(state, acquire('w1'))).toEqual({ volume: 'v', clientId: 'w1', generation: 1, acquiredAtMs: 10, fenced: null });
    expect(state.getVolume('v')).toMatchObject({ ok: true, value: { generation: 1, lease: { clientId: 'w1', acquiredAtMs: 10 } } });
  });

  it('a retried acquire by the holder returns the same grant without a new generation', () => {
    const state = volumeState();
    must(state, acquire('w1'));
    const hash = state.hash();
    expect(must(state, acquire('w1', false, 99))).toMatchObject({ generation: 1, acquiredAtMs: 10 });
    expect(state.hash()).toBe(hash);
  });

  it('a second writer is refused with BASALT_LEASE_CONFLICT', () => {
    const state = volumeState();
    must(state, acquire('w1'));
    expect(refuse(state, acquire('w2'), ErrorCode.LeaseConflict)).toEqual({ volume: 'v', holder: 'w1', generation: 1 });
  });

  it('a forced takeover fences the old writer: new generation, and its release is refused', () => {
    const state = volumeState();
    must(state, acquire('w1'));
    expect(must(state, acquire('w2', true, 20))).toEqual({ volume: 'v', clientId: 'w2', generation: 2, acquiredAtMs: 20, fenced: 'w1' });
    const details = refuse(state, release('w1', 1), ErrorCode.LeaseFenced);
    expect(details).toEqual({ volume: 'v', clientId: 'w1', generation: 1, currentGeneration: 2, holder: 'w2' });
    refuse(state, release('w1', 2), ErrorCode.LeaseFenced);
  });

  it('release frees the lease; a retried release is a no-op; the next grant moves the generation on', () => {
    const state = volumeState();
    must(state, acquire('w1'));
    expect(must(state, release('w1', 1))).toEqual({ volume: 'v', generation: 1 });
    expect(state.getVolume('v')).toMatchObject({ ok: true, value: { generation: 1, lease: null } });
    must(state, release('w1', 1));
    expect(must(state, acquire('w2')).generation).toBe(2);
    refuse(state, release('w1', 1), ErrorCode.LeaseFenced);
  });

  it('refuses bad client ids and unknown volumes', () => {
    const state = volumeState();
    refuse(state, acquire(''), ErrorCode.InvalidArgument);
    refuse(state, acquire('has space'), ErrorCode.InvalidArgument);
    refuse(state, { ...acquire('w1'), name: 'nope' }, ErrorCode.VolumeNotFound);
    refuse(state, { ...release('w1', 0), name: 'nope' }, ErrorCode.VolumeNotFound);
    refuse(state, release('w1', -1), ErrorCode.InvalidArgument);
  });
});
