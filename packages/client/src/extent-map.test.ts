import { afterEach, describe, expect, it, vi } from 'vitest';
import { BasaltError, ErrorCode, limits } from '@basalt/stdx';
import type { MetaClient } from '@basalt/wire';
import { ExtentMap } from './extent-map.js';

/** A metad that answers GetExtentMap with capability N on its Nth call (or fails while `down`). */
function fakeMeta(): { meta: MetaClient; calls: () => number; setDown: (down: boolean) => void } {
  let calls = 0;
  let down = false;
  const meta = {
    call: (method: string) => {
      expect(method).toBe('getExtentMap');
      calls++;
      if (down) return Promise.reject(new BasaltError(ErrorCode.Unavailable, 'metad is down'));
      const extent = { index: 0, epoch: 1, primary: 'p', replicas: [{ serverId: 'p', address: 'p:1' }], signedState: Buffer.from('state') };
      return Promise.resolve({ volumeId: 1, extentSizeBytes: 1 << 20, generation: 1, extents: [extent], capability: Buffer.from(`cap-${calls}`) });
    },
  } as unknown as MetaClient;
  return { meta, calls: () => calls, setDown: (d) => (down = d) };
}

const capabilityOf = (auth: readonly Buffer[] | undefined): string => auth![0]!.toString();

afterEach(() => {
  vi.useRealTimers();
});

describe('capability renewal ahead of expiry', () => {
  it('renews a capability in the background once it is clientCapabilityRenewAfterMs old, and not before', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { meta, calls } = fakeMeta();
    const map = new ExtentMap(meta, 'v', true, 1, () => undefined);
    const info = (await map.lookup(0))!;
    expect(capabilityOf(map.auth(info))).toBe('cap-1');
    vi.advanceTimersByTime(limits.clientCapabilityRenewAfterMs - 1);
    expect(capabilityOf(map.auth(info))).toBe('cap-1');
    expect(calls()).toBe(1);
    vi.advanceTimersByTime(1);
    // The request that finds it due still presents the valid old one; one fetch starts.
    expect(capabilityOf(map.auth(info))).toBe('cap-1');
    expect(capabilityOf(map.auth(info))).toBe('cap-1');
    expect(calls()).toBe(2);
    await vi.waitFor(() => expect(capabilityOf(map.auth(map.known(0)!))).toBe('cap-2'));
    expect(calls()).toBe(2);
  });

  it('keeps the old capability when the renewal fails and tries again clientCapabilityRenewRetryMs later', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { meta, calls, setDown } = fakeMeta();
    const map = new ExtentMap(meta, 'v', false, 1, () => undefined);
    const info = (await map.lookup(0))!;
    setDown(true);
    vi.advanceTimersByTime(limits.clientCapabilityRenewAfterMs);
    map.auth(info);
    await vi.waitFor(() => expect(calls()).toBe(2));
    await new Promise((resolve) => setImmediate(resolve));
    // Failed: no new fetch with every request, only after the retry wait.
    vi.advanceTimersByTime(limits.clientCapabilityRenewRetryMs - 1);
    expect(capabilityOf(map.auth(info))).toBe('cap-1');
    expect(calls()).toBe(2);
    setDown(false);
    vi.advanceTimersByTime(1);
    map.auth(info);
    expect(calls()).toBe(3);
    await vi.waitFor(() => expect(capabilityOf(map.auth(map.known(0)!))).toBe('cap-3'));
  });
});

describe('reports of a primary that metad already dropped', () => {
  it('answer every concurrent reporter with the current set, however their re-reads of the map interleave', async () => {
    const moved = { index: 0, epoch: 2, primary: 's', replicas: [{ serverId: 's', address: 's:1' }] };
    const answers: (() => void)[] = [];
    const meta = {
      call: (method: string) => {
        if (method === 'dropReplica') return Promise.reject(new BasaltError(ErrorCode.StaleEpoch, 'epoch 1 is older than 2'));
        expect(method).toBe('getExtentMap');
        // Each re-read is answered when the test says so, in the order the test picks.
        return new Promise((resolve) => answers.push(() => resolve({ volumeId: 1, extentSizeBytes: 1 << 20, generation: 1, extents: [moved] })));
      },
    } as unknown as MetaClient;
    const map = new ExtentMap(meta, 'v', true, 1, () => undefined);
    const old = { index: 0, epoch: 1, replicas: [{ serverId: 'p', address: 'p:1' }], readable: [{ serverId: 'p', address: 'p:1' }], signedState: undefined };
    const first = map.reportFailed(old, 'p', 'unreachable');
    await vi.waitFor(() => expect(answers).toHaveLength(1));
    // The first re-read is answered; before its reporter resumes, a second reporter starts its own.
    answers[0]!();
    const second = map.reportFailed(old, 'p', 'unreachable');
    await vi.waitFor(() => expect(answers).toHaveLength(2));
    answers[1]!();
    expect((await first)?.epoch).toBe(2);
    expect((await second)?.epoch).toBe(2);
  });
});
