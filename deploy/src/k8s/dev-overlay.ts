import type { IContainer } from 'kubernetes-models/v1/Container';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Pod } from 'kubernetes-models/v1/Pod';
import type { Endpoint } from '../topology.js';
import { agentArgs, basaltUid, budgets, chunkServers, chunkdArgs, dataDir, image, metaMembers, metadArgs, names, nodeOptions, ports } from '../topology.js';
import type { Budget } from '../topology.js';
import type { Manifest } from './common.js';
import { labels, resources } from './common.js';

/**
 * The dev overlay: the whole cluster in one Pod with a PersistentVolumeClaim per stateful process,
 * for `podman kube play` (which runs Pods, Deployments and PVCs, not StatefulSets or Services).
 * The containers share the pod's network namespace, so each listens on its own loopback port; only
 * the agent's NBD port is published, on the host's loopback.
 */

export const devPod = 'basalt-dev';

interface DevProcess {
  name: string;
  args: string[];
  metricsPort: number;
  budget: Budget;
  /** The PersistentVolumeClaim mounted on the data dir (stateful processes only). */
  claim?: string;
}

function devContainer(p: DevProcess): IContainer {
  return {
    name: p.name,
    image,
    args: p.args,
    env: [{ name: 'BASALT_METRICS_PORT', value: String(p.metricsPort) }, { name: 'NODE_OPTIONS', value: nodeOptions(p.budget) }],
    resources: resources(p.budget),
    securityContext: { runAsUser: basaltUid, runAsGroup: basaltUid, allowPrivilegeEscalation: false },
    ...(p.claim !== undefined && { volumeMounts: [{ name: p.claim, mountPath: dataDir }] }),
  };
}

/** Every process of the pod, on its own loopback ports; metrics ports count up from ports.metrics. */
function devProcesses(): { stateful: (DevProcess & { claim: string })[]; agent: DevProcess } {
  const metas: Endpoint[] = names('metad', metaMembers).map((id, i) => ({ id, host: '127.0.0.1', port: ports.meta + i }));
  const chunks: Endpoint[] = names('chunkd', chunkServers).map((id, i) => ({ id, host: '127.0.0.1', port: ports.chunk + i }));
  const metaMetrics = (i: number): number => ports.metrics + i;
  const chunkMetrics = (i: number): number => ports.metrics + metaMembers + i;
  const agentMetrics = ports.metrics + metaMembers + chunkServers;
  const stateful = [
    ...metas.map((m, i) => ({ name: m.id, args: metadArgs(m, metas, metaMetrics(i)), metricsPort: metaMetrics(i), budget: budgets.meta, claim: `${devPod}-${m.id}` })),
    ...chunks.map((c, i) => ({ name: c.id, args: chunkdArgs(c, `zone-${i}`, metas, chunkMetrics(i)), metricsPort: chunkMetrics(i), budget: budgets.chunk, claim: `${devPod}-${c.id}` })),
  ];
  const agent = { name: 'agent', args: agentArgs(`0.0.0.0:${ports.nbd}`, metas, agentMetrics), metricsPort: agentMetrics, budget: budgets.agent };
  return { stateful, agent };
}

export function devOverlayManifests(): Manifest[] {
  const { stateful, agent } = devProcesses();
  const claims = stateful.map((p) => p.claim);
  const agentContainer: IContainer = {
    ...devContainer(agent),
    ports: [{ name: 'nbd', containerPort: ports.nbd, hostPort: ports.nbd, hostIP: '127.0.0.1', protocol: 'TCP' }],
  };
  return [
    ...claims.map((claim) => new PersistentVolumeClaim({
      metadata: { name: claim, labels: labels(devPod) },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    })),
    new Pod({
      metadata: { name: devPod, labels: labels(devPod) },
      spec: {
        restartPolicy: 'Always',
        securityContext: { fsGroup: basaltUid },
        containers: [...stateful.map(devContainer), agentContainer],
        volumes: claims.map((claim) => ({ name: claim, persistentVolumeClaim: { claimName: claim } })),
      },
    }),
  ];
}
