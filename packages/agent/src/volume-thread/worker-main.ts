import { parentPort, workerData } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { ClientMetrics, connect, FileKeyProvider } from '@basalt/client';
import { hideIpServerNameWarning } from '@basalt/stdx';
import { FramePool, TransportSecurity } from '@basalt/wire';
import { ClusterVolumeProvider } from '../cluster-provider.js';
import type { FromThread } from './messages.js';
import { MessageBatch } from './message-batch.js';
import { serveVolumes } from './serve-volumes.js';
import type { VolumeThreadConfig } from './start-volume-thread.js';

/**
 * The agent's volume thread (startVolumeThread): its own SDK client, with its own TLS contexts
 * and frame pool, serving the main thread's requests. Everything the SDK does for an open volume
 * (chunk server sockets and their encryption, leases, revocation sync, holder requests,
 * background flatten) runs here.
 */
hideIpServerNameWarning();
const config = workerData as VolumeThreadConfig;
const port = parentPort!;
const out = new MessageBatch<FromThread>(port);
const post = (m: FromThread): void => out.push(m);
const security = config.tlsFiles === undefined ? TransportSecurity.insecure() : TransportSecurity.fromFiles(config.tlsFiles);
const pool = new FramePool(config.framePoolBytesMax);
// The SDK's metrics (basalt_client_*), served on the agent's /metrics beside its own.
const registry = new Registry();
const client = connect({
  metad: config.metad,
  security,
  clientId: config.clientId,
  framePool: pool,
  metrics: new ClientMetrics(registry),
  onEvent: (event) => post({ t: 'event', event }),
  ...(config.kekFile !== undefined && { keyProvider: new FileKeyProvider(config.kekFile) }),
});
serveVolumes(port, out, new ClusterVolumeProvider(client, pool), pool, () => {
  try {
    security.reload();
  } catch (err) {
    post({ t: 'log', line: `tls: volume thread: reload failed, keeping the previous certificate: ${(err as Error).message}` });
  }
}, () => registry.metrics());
