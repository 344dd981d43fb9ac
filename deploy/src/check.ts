import { validate as lintDockerfile } from 'dockerfile-utils';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { CSIDriver } from 'kubernetes-models/storage.k8s.io/v1/CSIDriver';
import { StorageClass } from 'kubernetes-models/storage.k8s.io/v1/StorageClass';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parseAllDocuments } from 'yaml';
import { VolumeSnapshotClass } from './k8s/volume-snapshot-class.js';

/** Checks on deploy/'s files as they are committed (used by test/deploy-manifests.test.ts). */

const models: Record<string, new (data: never) => { validate(): void }> = {
  Namespace, Service, StatefulSet, PodDisruptionBudget, DaemonSet, NetworkPolicy, Pod, PersistentVolumeClaim,
  Deployment, CSIDriver, StorageClass, ServiceAccount, ClusterRole, ClusterRoleBinding, VolumeSnapshotClass,
};

/** Validates a Kubernetes object (parsed YAML) against its kind's schema; throws what is wrong. */
export function validateObject(object: Record<string, unknown>): void {
  const kind = String(object.kind);
  const Model = models[kind];
  if (Model === undefined) throw new Error(`no schema model for kind ${kind} (known: ${Object.keys(models).join(', ')})`);
  new Model(object as never).validate();
}

/** The documents of a (multi-document) YAML file as plain objects. */
export function yamlDocuments(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>);
}

/** dockerfile-utils' diagnostics for a Containerfile, one line each ("line N: message"). */
export function lintContainerfile(text: string): string[] {
  return lintDockerfile(text).map((d) => `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`);
}

export type { CSIDriver, DaemonSet, Deployment, NetworkPolicy, Pod, PodDisruptionBudget, Service, StatefulSet, StorageClass };
