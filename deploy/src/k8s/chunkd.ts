import { budgets, chunkServers, chunkdArgs, ports, storage } from '../topology.js';
import type { Manifest } from './common.js';
import { headlessService, podDnsName } from './common.js';
import { metadEndpoints } from './metad.js';
import { disruptionBudget, statefulSet } from './stateful.js';

/**
 * chunkd: a StatefulSet of chunk servers, each with its own volume and a stable id and address
 * (chunkd-N.chunkd.<namespace>...), spread over nodes and zones. A server's zone is its node's
 * name: replicas of an extent then never share a node. One disruption at a time: with a
 * replication factor of 3, writes go on (degraded) while one server is away.
 */

export const chunkdService = 'chunkd';
const servicePort = { name: 'data', port: ports.chunk };

export function chunkdManifests(): Manifest[] {
  const self = { id: '$(POD_NAME)', host: podDnsName('$(POD_NAME)', chunkdService), port: ports.chunk };
  const env = [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }];
  return [
    headlessService(chunkdService, servicePort),
    statefulSet({
      component: chunkdService, replicas: chunkServers, args: chunkdArgs(self, '$(NODE_NAME)', metadEndpoints()),
      budget: budgets.chunk, servicePort, storageGiB: storage.chunkGiB, env,
    }),
    disruptionBudget(chunkdService, { maxUnavailable: 1 }),
  ];
}
