import { Worker } from 'node:worker_threads';
import type { VolumeEvent } from '@basalt/client';
import { limits } from '@basalt/stdx';
import { FramePool, type TlsFiles } from '@basalt/wire';
import { ThreadVolumeProvider } from './thread-provider.js';

/** What the volume thread needs to connect its own SDK client (plain data: it crosses to the thread). */
export type VolumeThreadConfig = {
  metad: string[];
  /** Mutual TLS files (the thread loads and, on reload(), rereads them); undefined: insecure. */
  tlsFiles: TlsFiles | undefined;
  clientId: string;
  /** The KEK file of encrypted volumes, if any. */
  kekFile: string | undefined;
  /** Each thread's frame pool (limits.agentFramePoolBytesMax). */
  framePoolBytesMax: number;
};

export type VolumeThread = {
  provider: ThreadVolumeProvider;
  /** Makes the thread reread its TLS files (call it on SIGHUP, beside the main thread's reload). */
  reload(): void;
  /** Stops the thread (after the agent released its volumes). */
  stop(): Promise<void>;
};

/** Starts the agent's volume thread (worker-main.ts) and the provider that talks to it. */
export function startVolumeThread(config: VolumeThreadConfig, hooks: VolumeThreadHooks): VolumeThread {
  const worker = new Worker(new URL('./worker-main.js', import.meta.url), {
    workerData: config,
    resourceLimits: { maxYoungGenerationSizeMb: limits.agentVolumeThreadYoungGenerationMiB },
  });
  return attachVolumeThread(worker, new FramePool(config.framePoolBytesMax), hooks);
}

export type VolumeThreadHooks = { onEvent: (e: VolumeEvent) => void; log: (line: string) => void };

/**
 * The provider over a started volume thread. When the thread dies, `log` is told and every
 * request to its devices fails (ThreadVolumeProvider.fail) instead of waiting.
 */
export function attachVolumeThread(worker: Worker, pool: FramePool, hooks: VolumeThreadHooks): VolumeThread {
  const provider = new ThreadVolumeProvider(worker, pool, (m) => (m.t === 'event' ? hooks.onEvent(m.event) : hooks.log(m.line)));
  let stopping = false;
  worker.on('error', (err) => {
    hooks.log(`volume thread failed: ${err.message}`);
    provider.fail(err.message);
  });
  worker.on('exit', (code) => {
    if (!stopping) hooks.log(`volume thread exited (code ${code}); requests to its volumes fail`);
    provider.fail(`exited with code ${code}`);
  });
  return {
    provider,
    reload: () => provider.reload(),
    stop: async () => {
      stopping = true;
      await worker.terminate();
    },
  };
}
