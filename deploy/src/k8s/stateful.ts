import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IPodDisruptionBudgetSpec } from 'kubernetes-models/policy/v1/PodDisruptionBudgetSpec';
import type { Budget } from '../topology.js';
import { basaltUid, dataDir } from '../topology.js';
import { basaltContainer, labels, namespace, restrictedContainer, scrapeAnnotations } from './common.js';

/** A StatefulSet of one Basalt role with a PersistentVolumeClaim per pod mounted on the data dir. */
export interface StatefulRole {
  component: string;
  replicas: number;
  args: string[];
  budget: Budget;
  servicePort: { name: string; port: number };
  storageGiB: number;
  env?: IEnvVar[];
}

export function statefulSet(role: StatefulRole): StatefulSet {
  const container = basaltContainer({ name: role.component, args: role.args, budget: role.budget, servicePort: role.servicePort, env: role.env ?? [] });
  return new StatefulSet({
    metadata: { name: role.component, namespace, labels: labels(role.component) },
    spec: {
      serviceName: role.component,
      replicas: role.replicas,
      // Members must all start to form a quorum; ordered start would wait for readiness that needs the others.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate' },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      selector: { matchLabels: labels(role.component) },
      template: {
        metadata: { labels: labels(role.component), annotations: scrapeAnnotations },
        spec: {
          terminationGracePeriodSeconds: 30,
          securityContext: { runAsUser: basaltUid, runAsGroup: basaltUid, fsGroup: basaltUid, seccompProfile: { type: 'RuntimeDefault' } },
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [{
                weight: 100,
                podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: labels(role.component) } },
              }],
            },
          },
          topologySpreadConstraints: [{
            maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway',
            labelSelector: { matchLabels: labels(role.component) },
          }],
          containers: [{
            ...container,
            securityContext: restrictedContainer,
            volumeMounts: [{ name: 'data', mountPath: dataDir }, { name: 'tmp', mountPath: '/tmp' }],
          }],
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
        },
      },
      volumeClaimTemplates: [{
        metadata: { name: 'data', labels: labels(role.component) },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: `${role.storageGiB}Gi` } } },
      }],
    },
  });
}

export function disruptionBudget(component: string, limit: Pick<IPodDisruptionBudgetSpec, 'minAvailable' | 'maxUnavailable'>): PodDisruptionBudget {
  return new PodDisruptionBudget({
    metadata: { name: component, namespace, labels: labels(component) },
    spec: { ...limit, selector: { matchLabels: labels(component) } },
  });
}
