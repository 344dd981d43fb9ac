import type { Endpoint } from '../topology.js';
import { budgets, metaMembers, metadArgs, names, ports, quorum, storage } from '../topology.js';
import type { Manifest } from './common.js';
import { headlessService, podDnsName } from './common.js';
import { disruptionBudget, statefulSet } from './stateful.js';

/**
 * metad: a StatefulSet of Raft voters behind a headless Service, so member N is always
 * metad-N.metad.<namespace>.svc.cluster.local with its own volume, and a disruption budget that
 * never lets voluntary evictions take the cluster below a quorum.
 */

export const metadService = 'metad';
const servicePort = { name: 'grpc', port: ports.meta };

/** The members as every pod addresses them; $(POD_NAMESPACE) is expanded by the kubelet. */
export function metadEndpoints(): Endpoint[] {
  return names(metadService, metaMembers).map((id) => ({ id, host: podDnsName(id, metadService), port: ports.meta }));
}

export function metadManifests(): Manifest[] {
  const members = metadEndpoints();
  const self = { id: '$(POD_NAME)', host: podDnsName('$(POD_NAME)', metadService), port: ports.meta };
  return [
    headlessService(metadService, servicePort),
    statefulSet({ component: metadService, replicas: metaMembers, args: metadArgs(self, members), budget: budgets.meta, servicePort, storageGiB: storage.metaGiB }),
    disruptionBudget(metadService, { minAvailable: quorum(metaMembers) }),
  ];
}
