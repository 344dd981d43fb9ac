import { describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode, MiB } from '@basalt/stdx';
import type { BasaltClient, OpenOptions as ClientOpenOptions, Volume } from '@basalt/client';
import { FramePool } from '@basalt/wire';
import { ClusterVolumeProvider } from './cluster-provider.js';

/** A volume whose writes succeed or fail as the test says, recording what they were given. */
function fakeVolume(fail: () => boolean): { volume: Volume; written: Buffer[] } {
  const written: Buffer[] = [];
  const volume = {
    size: 64 * MiB,
    write: (_offset: number, data: Buffer) => {
      written.push(data);
      return fail() ? Promise.reject(new BasaltError(ErrorCode.Unavailable, 'no replica answered')) : Promise.resolve();
    },
  } as unknown as Volume;
  return { volume, written };
}

function providerOver(volume: Volume, pool: FramePool): ClusterVolumeProvider {
  const client = { openVolume: () => Promise.resolve(volume) } as unknown as BasaltClient;
  return new ClusterVolumeProvider(client, pool);
}

describe('ClusterVolumeProvider write buffers', () => {
  it('gives a write payload back to the frame pool once the write succeeded, so the next write reuses its memory', async () => {
    const pool = new FramePool(16 * MiB);
    const { volume, written } = fakeVolume(() => false);
    const device = await providerOver(volume, pool).open('v', { readOnly: false, forceTakeover: false });
    const payload = device.writeBuffer!(MiB);
    expect(payload.length).toBe(MiB);
    await device.write(0, payload, { fua: false });
    expect(written[0]).toBe(payload);
    expect(device.writeBuffer!(MiB).buffer).toBe(payload.buffer);
  });

  it('keeps a failed write\'s payload out of the pool (a retry may still be sending it)', async () => {
    const pool = new FramePool(16 * MiB);
    const { volume } = fakeVolume(() => true);
    const device = await providerOver(volume, pool).open('v', { readOnly: false, forceTakeover: false });
    const payload = device.writeBuffer!(MiB);
    await expect(device.write(0, payload, { fua: false })).rejects.toThrow(/no replica answered/);
    expect(device.writeBuffer!(MiB).buffer).not.toBe(payload.buffer);
  });

  it('hands out fresh buffers beyond the pooled sizes and ignores them when they come back', async () => {
    const pool = new FramePool(16 * MiB);
    const { volume } = fakeVolume(() => false);
    const device = await providerOver(volume, pool).open('v', { readOnly: false, forceTakeover: false });
    const big = device.writeBuffer!(32 * MiB);
    expect(big.length).toBe(32 * MiB);
    await device.write(0, big, { fua: false });
    expect(device.writeBuffer!(32 * MiB).buffer).not.toBe(big.buffer);
  });
});

describe('ClusterVolumeProvider opening', () => {
  it('opens a writer that allocates ahead of sequential writes, and a read-only volume without the lease', async () => {
    const opened: ClientOpenOptions[] = [];
    const { volume } = fakeVolume(() => false);
    const client = { openVolume: (_name: string, options: ClientOpenOptions) => (opened.push(options), Promise.resolve(volume)) } as unknown as BasaltClient;
    const provider = new ClusterVolumeProvider(client);
    await provider.open('v', { readOnly: false, forceTakeover: false });
    await provider.open('v', { readOnly: true, forceTakeover: false });
    expect(opened).toEqual([{ writer: true, force: false, allocateAhead: true }, { writer: false, force: false, allocateAhead: false }]);
  });
});
