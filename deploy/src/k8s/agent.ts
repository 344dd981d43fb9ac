import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { agentArgs, budgets, ports } from '../topology.js';
import type { Manifest } from './common.js';
import { basaltContainer, labels, namespace, scrapeAnnotations } from './common.js';
import { metadEndpoints } from './metad.js';

/**
 * The NBD agent: one per node (a DaemonSet). It is the one privileged Basalt process: attaching a
 * volume as /dev/nbdN (`basalt attach`, run in the agent's container) needs the host's /dev and
 * CAP_SYS_ADMIN. The kernel's NBD client uses the socket it is handed, so it reaches the agent on the
 * pod's loopback; a NetworkPolicy admits only metrics scrapes from outside the pod.
 */

export const agentComponent = 'basalt-agent';

export function agentManifests(): Manifest[] {
  const container = basaltContainer({
    name: 'agent', args: agentArgs(`0.0.0.0:${ports.nbd}`, metadEndpoints()), budget: budgets.agent, servicePort: { name: 'nbd', port: ports.nbd },
  });
  return [
    new DaemonSet({
      metadata: { name: agentComponent, namespace, labels: labels(agentComponent) },
      spec: {
        selector: { matchLabels: labels(agentComponent) },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
        template: {
          metadata: { labels: labels(agentComponent), annotations: scrapeAnnotations },
          spec: {
            terminationGracePeriodSeconds: 30,
            containers: [{
              ...container,
              securityContext: { privileged: true, runAsUser: 0, runAsNonRoot: false },
              volumeMounts: [{ name: 'dev', mountPath: '/dev' }, { name: 'modules', mountPath: '/lib/modules', readOnly: true }],
            }],
            volumes: [
              { name: 'dev', hostPath: { path: '/dev', type: 'Directory' } },
              { name: 'modules', hostPath: { path: '/lib/modules', type: 'Directory' } },
            ],
          },
        },
      },
    }),
    new NetworkPolicy({
      metadata: { name: agentComponent, namespace, labels: labels(agentComponent) },
      spec: {
        podSelector: { matchLabels: labels(agentComponent) },
        policyTypes: ['Ingress'],
        ingress: [{ ports: [{ protocol: 'TCP', port: ports.metrics }] }],
      },
    }),
  ];
}
