import { MessageChannel, Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import { FramePool } from '@basalt/wire';
import { attachVolumeThread, MessageBatch, serveVolumes, ThreadVolumeProvider } from '@basalt/agent';
import { Cmd, Errno } from '@basalt/agent/protocol';
import { FileVolumeStore, qemuIoPatterns, startAgent, tempDir } from './nbd-support.js';
import type { RunningAgent } from './nbd-support.js';
import { RawNbd } from './nbd-raw-client.js';
import { requireCommands } from './lib/process.js';

/**
 * The agent with its volumes behind the volume thread's seam (docs/nbd.md, "The volume thread"):
 * NBD clients see the same device, and a volume thread that dies turns requests into EIO replies
 * instead of a connection that hangs.
 */
describe('NBD through the volume thread seam', () => {
  const tmp = tempDir('nbd-volume-thread');
  const store = new FileVolumeStore(tmp.dir);
  const channel = new MessageChannel();
  let agent: RunningAgent;

  beforeAll(async () => {
    store.create('qio', 16 * MiB);
    serveVolumes(channel.port2, new MessageBatch(channel.port2), store.provider(), new FramePool(8 * MiB));
    agent = await startAgent({ provider: new ThreadVolumeProvider(channel.port1, new FramePool(8 * MiB)) });
  });
  afterAll(async () => {
    await agent.stop();
    channel.port1.close();
    tmp.cleanup();
  });

  it('qemu-io patterns survive FUA writes, flush, discard and write-zeroes', { timeout: 60_000 }, async () => {
    requireCommands('qemu-io');
    const r = await qemuIoPatterns(agent.uri('qio'));
    expect(r.stdout).not.toMatch(/fail|error/i);
    expect(r.reads).toBe(r.expectedReads);
  });
});

describe('a volume thread that dies', () => {
  it('fails the NBD requests to its volume with EIO, and the connection keeps answering', { timeout: 60_000 }, async () => {
    // A stand-in volume thread: lists and opens one volume, then exits with code 9 on the first I/O.
    const worker = new Worker(`
      const { parentPort } = require('node:worker_threads');
      const reply = (id, value) => parentPort.postMessage([{ t: 'reply', id, ok: true, value }]);
      parentPort.on('message', (batch) => {
        for (const m of batch) {
          if (m.t === 'list') reply(m.id, { kind: 'volumes', volumes: [{ name: 'v', sizeBytes: 1048576 }] });
          else if (m.t === 'open') reply(m.id, { kind: 'opened', device: 1, sizeBytes: 1048576 });
          else if (m.t === 'call') process.exit(9);
        }
      });`, { eval: true });
    const logged: string[] = [];
    const thread = attachVolumeThread(worker, new FramePool(MiB), { onEvent: () => {}, log: (l: string) => logged.push(l) });
    const agent = await startAgent({ provider: thread.provider });
    const c = await RawNbd.connect(agent.port);
    try {
      await c.handshake();
      await c.go('v');
      c.request(Cmd.Read, 0, 1n, 0n, 4096);
      const first = await c.reply();
      expect(first.handle).toBe(1n);
      expect(first.error).toBe(Errno.EIO);
      c.request(Cmd.Flush, 0, 2n, 0n, 0);
      const second = await c.reply();
      expect(second.handle).toBe(2n);
      expect(second.error).toBe(Errno.EIO);
      expect(logged).toEqual([expect.stringMatching(/volume thread exited \(code 9\)/)]);
    } finally {
      c.destroy();
      await agent.stop();
    }
  });
});
