/**
 * The one description of a Basalt deployment: names, ports, paths, budgets and the command line of
 * each process. deploy/compose.yaml, the Kubernetes manifests and the dev overlay are generated from
 * it (src/generate.ts), and the container test starts the cluster from compose.yaml, so a flag that
 * changes in packages/cli changes here and nowhere else.
 */

/** The image every process runs (deploy/images/Containerfile, built by deploy/scripts/build-images). */
export const image = 'localhost/basalt:dev';

/**
 * Listening ports inside a container or pod. Every process exports Prometheus metrics on `metrics`;
 * the CSI node pod's read-only agent (`nbdReadOnly`) shares the pod's network, so it uses the next one.
 */
export const ports = { meta: 7100, chunk: 7200, nbd: 10809, nbdReadOnly: 10810, metrics: 9464 } as const;

/** Where metad and chunkd keep their data: the image's declared VOLUME. */
export const dataDir = '/var/lib/basalt';

/** The unprivileged user of the image (deploy/images/Containerfile, BASALT_UID). */
export const basaltUid = 10001;

/** Raft voters: 3 tolerate the loss of one member, 5 of two. */
export const metaMembers = 3;
/** Chunk servers: a replication factor of 3 needs at least 3. */
export const chunkServers = 3;

/** Members needed for a Raft quorum: what a disruption budget must keep running. */
export function quorum(members: number): number {
  return Math.floor(members / 2) + 1;
}

/** Memory and CPU budget of one process. Node's heap is capped below the memory limit. */
export interface Budget {
  memoryMiB: number;
  heapMiB: number;
  cpuRequestMilli: number;
  cpuLimitMilli: number;
}

export const budgets: Record<'meta' | 'chunk' | 'agent', Budget> = {
  meta: { memoryMiB: 256, heapMiB: 160, cpuRequestMilli: 250, cpuLimitMilli: 1000 },
  chunk: { memoryMiB: 256, heapMiB: 160, cpuRequestMilli: 500, cpuLimitMilli: 2000 },
  agent: { memoryMiB: 256, heapMiB: 160, cpuRequestMilli: 250, cpuLimitMilli: 2000 },
};

/** NODE_OPTIONS for a budget: V8's old space stays below the container's memory limit. */
export function nodeOptions(budget: Budget): string {
  return `--max-old-space-size=${budget.heapMiB}`;
}

/** Storage requested per member (Kubernetes volumeClaimTemplates). */
export const storage = { metaGiB: 1, chunkGiB: 100 } as const;

/** A process as the others reach it: its id, and the host and port it listens on and advertises. */
export interface Endpoint {
  id: string;
  host: string;
  port: number;
}

const address = (e: Endpoint): string => `${e.host}:${e.port}`;

/**
 * `basalt meta start` for one member. metad binds `--listen` and also advertises it to its peers and
 * clients, so `host` must be the name the others reach it by (a DNS name resolving to this member).
 */
export function metadArgs(self: Endpoint, members: readonly Endpoint[], metricsPort: number = ports.metrics): string[] {
  return [
    'meta', 'start',
    '--id', self.id,
    '--listen', address(self),
    '--peers', members.map((m) => `${m.id}=${address(m)}`).join(','),
    '--data-dir', dataDir,
    '--metrics-port', String(metricsPort),
    insecureFlag,
  ];
}

/**
 * The manifests run without TLS, explicitly: mutual TLS needs a certificate per member mounted
 * into each container and passed as --tls-ca/--tls-cert/--tls-key (docs/security.md).
 */
const insecureFlag = '--insecure';

/** The --metad list every client of the cluster takes. */
export function metadList(members: readonly Endpoint[]): string {
  return members.map(address).join(',');
}

/**
 * `basalt chunk start` for one chunk server. It binds `--listen` and registers `--advertise` with
 * metad: the name, not the bound IP, since a recreated container or pod gets a new IP.
 */
export function chunkdArgs(self: Endpoint, zone: string, members: readonly Endpoint[], metricsPort: number = ports.metrics): string[] {
  return [
    'chunk', 'start',
    '--id', self.id,
    '--zone', zone,
    '--data-dir', dataDir,
    '--listen', address(self),
    '--advertise', address(self),
    '--metad', metadList(members),
    '--metrics-port', String(metricsPort),
    insecureFlag,
  ];
}

/** `basalt agent`: serves NBD on `listen` (0.0.0.0 inside its own network namespace). */
export function agentArgs(listen: string, members: readonly Endpoint[], metricsPort: number = ports.metrics): string[] {
  return ['agent', '--listen', listen, '--metad', metadList(members), '--metrics-port', String(metricsPort), insecureFlag];
}

/** Member names: metad-0, metad-1, ... (Kubernetes StatefulSet pod names have the same form). */
export function names(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}
