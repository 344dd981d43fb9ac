/**
 * The full-size copy: 256 MiB of random data through nbdcopy into a volume and back out,
 * over four connections (multi-conn), with equal checksums. Bounded by the test timeout.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import { FileVolumeStore, runOk, sha256File, startAgent, tempDir, writeRandomFile } from './nbd-support.js';
import { requireCommands } from './lib/process.js';

describe('nbdcopy at full size', () => {
  const tmp = tempDir('nbd-copy-large');
  afterAll(() => tmp.cleanup());

  it('copies 256 MiB of random data in and out with equal checksums', async () => {
    requireCommands('nbdcopy');
    const bytes = 256 * MiB;
    const store = new FileVolumeStore(tmp.dir);
    store.create('big', bytes);
    const agent = await startAgent({ provider: store.provider() });
    try {
      const src = join(tmp.dir, 'src.raw');
      const out = join(tmp.dir, 'out.raw');
      writeRandomFile(src, bytes, 2026, [10, 11, 12, 200]);
      await runOk('nbdcopy', ['--connections=4', '--flush', src, agent.uri('big')], { timeoutMs: 240_000 });
      await runOk('nbdcopy', ['--connections=4', agent.uri('big'), out], { timeoutMs: 240_000 });
      const want = await sha256File(src);
      expect(await sha256File(out)).toBe(want);
      expect(await sha256File(join(tmp.dir, 'big.img'))).toBe(want);
    } finally {
      await agent.stop();
    }
  });
});
