import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { CSIDriver } from 'kubernetes-models/storage.k8s.io/v1/CSIDriver';
import { StorageClass } from 'kubernetes-models/storage.k8s.io/v1/StorageClass';
import { VolumeSnapshotClass } from './volume-snapshot-class.js';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { agentArgs, image, metadList, ports } from '../topology.js';
import type { Manifest } from './common.js';
import { labels, namespace, podEnv } from './common.js';
import { metadEndpoints } from './metad.js';

/**
 * The CSI driver (packages/csi, docs/kubernetes.md): a controller Deployment (`basalt csi --mode
 * controller` with the external-provisioner, -attacher, -resizer and -snapshotter sidecars on a shared socket),
 * a node DaemonSet (`basalt csi --mode node`, the node-driver-registrar and pod-local NBD agents,
 * read-write and read-only, the kernel's NBD client reaches on loopback; privileged, with the host's /dev and the kubelet's
 * dirs), the CSIDriver object, a StorageClass and a VolumeSnapshotClass. A node's zone is its node name, as chunkd's is.
 */

export const driverName = 'csi.basalt.io';
const controllerComponent = 'basalt-csi-controller';
const nodeComponent = 'basalt-csi-node';
const socketDir = '/csi';
const socket = `${socketDir}/csi.sock`;
const kubeletDir = '/var/lib/kubelet';
const pluginDir = `${kubeletDir}/plugins/${driverName}`;
const sidecarRegistry = 'registry.k8s.io/sig-storage';

/** The sidecar images, pinned. */
export const sidecars = {
  provisioner: `${sidecarRegistry}/csi-provisioner:v5.1.0`,
  attacher: `${sidecarRegistry}/csi-attacher:v4.7.0`,
  resizer: `${sidecarRegistry}/csi-resizer:v1.12.0`,
  snapshotter: `${sidecarRegistry}/csi-snapshotter:v8.2.0`,
  registrar: `${sidecarRegistry}/csi-node-driver-registrar:v2.12.0`,
} as const;

/** `basalt csi` args for a mode. */
export function csiArgs(mode: 'controller' | 'node'): string[] {
  const common = ['csi', '--mode', mode, '--endpoint', `unix://${socket}`, '--metad', metadList(metadEndpoints())];
  if (mode === 'controller') return common;
  return [...common, '--node-id', '$(NODE_NAME)', '--zone', '$(NODE_NAME)', '--agent', `127.0.0.1:${ports.nbd}`, '--read-only-agent', `127.0.0.1:${ports.nbdReadOnly}`];
}

const socketMount = { name: 'socket-dir', mountPath: socketDir };
const nodeNameEnv = { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } };
const small = { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '200m', memory: '128Mi' } };

function sidecar(name: string, img: string, args: string[]): IContainer {
  return { name, image: img, imagePullPolicy: 'IfNotPresent', args: [`--csi-address=${socket}`, ...args], volumeMounts: [socketMount], resources: small };
}

function basaltCsiContainer(mode: 'controller' | 'node'): IContainer {
  return {
    name: 'csi', image, imagePullPolicy: 'IfNotPresent', args: csiArgs(mode), env: [nodeNameEnv, ...podEnv],
    resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
  };
}

function controllerRbac(): Manifest[] {
  const rules = [
    { apiGroups: [''], resources: ['persistentvolumes'], verbs: ['get', 'list', 'watch', 'create', 'delete', 'patch', 'update'] },
    { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: ['get', 'list', 'watch', 'update'] },
    { apiGroups: [''], resources: ['persistentvolumeclaims/status'], verbs: ['patch', 'update'] },
    { apiGroups: [''], resources: ['events'], verbs: ['list', 'watch', 'create', 'update', 'patch'] },
    { apiGroups: [''], resources: ['nodes', 'pods'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['storage.k8s.io'], resources: ['storageclasses', 'csinodes'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['storage.k8s.io'], resources: ['volumeattachments'], verbs: ['get', 'list', 'watch', 'patch'] },
    { apiGroups: ['storage.k8s.io'], resources: ['volumeattachments/status'], verbs: ['patch'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'watch', 'list', 'delete', 'update', 'create'] },
    { apiGroups: ['snapshot.storage.k8s.io'], resources: ['volumesnapshotclasses'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['snapshot.storage.k8s.io'], resources: ['volumesnapshotcontents'], verbs: ['get', 'list', 'watch', 'update', 'patch'] },
    { apiGroups: ['snapshot.storage.k8s.io'], resources: ['volumesnapshotcontents/status'], verbs: ['update', 'patch'] },
    { apiGroups: ['snapshot.storage.k8s.io'], resources: ['volumesnapshots'], verbs: ['get', 'list', 'watch'] },
  ];
  return [
    new ServiceAccount({ metadata: { name: controllerComponent, namespace, labels: labels(controllerComponent) } }),
    new ClusterRole({ metadata: { name: controllerComponent, labels: labels(controllerComponent) }, rules }),
    new ClusterRoleBinding({
      metadata: { name: controllerComponent, labels: labels(controllerComponent) },
      subjects: [{ kind: 'ServiceAccount', name: controllerComponent, namespace }],
      roleRef: { kind: 'ClusterRole', name: controllerComponent, apiGroup: 'rbac.authorization.k8s.io' },
    }),
  ];
}

function controller(): Deployment {
  return new Deployment({
    metadata: { name: controllerComponent, namespace, labels: labels(controllerComponent) },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels(controllerComponent) },
      template: {
        metadata: { labels: labels(controllerComponent) },
        spec: {
          serviceAccountName: controllerComponent,
          containers: [
            { ...basaltCsiContainer('controller'), volumeMounts: [socketMount] },
            sidecar('csi-provisioner', sidecars.provisioner, ['--leader-election', '--feature-gates=Topology=true', '--default-fstype=ext4', '--timeout=60s']),
            sidecar('csi-attacher', sidecars.attacher, ['--leader-election', '--timeout=60s']),
            sidecar('csi-resizer', sidecars.resizer, ['--leader-election', '--timeout=60s']),
            sidecar('csi-snapshotter', sidecars.snapshotter, ['--leader-election', '--timeout=60s']),
          ],
          volumes: [{ name: 'socket-dir', emptyDir: {} }],
        },
      },
    },
  });
}

function node(): DaemonSet {
  const nbdAgent: IContainer = {
    name: 'agent', image, imagePullPolicy: 'IfNotPresent', args: agentArgs(`127.0.0.1:${ports.nbd}`, metadEndpoints()), env: podEnv,
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
  };
  // Read-only stages (ReadOnlyMany) attach through an agent that takes no writer lease.
  const readOnlyAgent: IContainer = {
    name: 'agent-read-only', image, imagePullPolicy: 'IfNotPresent', env: podEnv,
    args: [...agentArgs(`127.0.0.1:${ports.nbdReadOnly}`, metadEndpoints(), ports.metrics + 1), '--read-only'],
    resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
  };
  const registrar = sidecar('node-driver-registrar', sidecars.registrar, [`--kubelet-registration-path=${pluginDir}/csi.sock`]);
  registrar.volumeMounts = [socketMount, { name: 'registration-dir', mountPath: '/registration' }];
  return new DaemonSet({
    metadata: { name: nodeComponent, namespace, labels: labels(nodeComponent) },
    spec: {
      selector: { matchLabels: labels(nodeComponent) },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: labels(nodeComponent) },
        spec: {
          containers: [
            {
              ...basaltCsiContainer('node'),
              securityContext: { privileged: true, runAsUser: 0, runAsNonRoot: false },
              volumeMounts: [
                socketMount,
                { name: 'kubelet-dir', mountPath: kubeletDir, mountPropagation: 'Bidirectional' },
                { name: 'dev', mountPath: '/dev' },
                { name: 'modules', mountPath: '/lib/modules', readOnly: true },
                { name: 'state', mountPath: '/var/lib/basalt-csi' },
              ],
            },
            nbdAgent,
            readOnlyAgent,
            registrar,
          ],
          volumes: [
            { name: 'socket-dir', hostPath: { path: pluginDir, type: 'DirectoryOrCreate' } },
            { name: 'registration-dir', hostPath: { path: `${kubeletDir}/plugins_registry`, type: 'Directory' } },
            { name: 'kubelet-dir', hostPath: { path: kubeletDir, type: 'Directory' } },
            { name: 'dev', hostPath: { path: '/dev', type: 'Directory' } },
            { name: 'modules', hostPath: { path: '/lib/modules', type: 'Directory' } },
            { name: 'state', hostPath: { path: '/var/lib/basalt-csi', type: 'DirectoryOrCreate' } },
          ],
        },
      },
    },
  });
}

export function csiManifests(): Manifest[] {
  return [
    new CSIDriver({
      metadata: { name: driverName, labels: labels('basalt-csi') },
      spec: { attachRequired: false, podInfoOnMount: false, volumeLifecycleModes: ['Persistent'], fsGroupPolicy: 'File' },
    }),
    ...controllerRbac(),
    controller(),
    node(),
    new StorageClass({
      metadata: { name: 'basalt', labels: labels('basalt-csi') },
      provisioner: driverName,
      parameters: { replicas: '3', extentSizeBytes: String(64 * 2 ** 20), 'csi.storage.k8s.io/fstype': 'ext4' },
      reclaimPolicy: 'Delete',
      allowVolumeExpansion: true,
      volumeBindingMode: 'WaitForFirstConsumer',
    }),
    // Needs the snapshot CRDs and snapshot-controller of kubernetes-csi/external-snapshotter (docs/kubernetes.md).
    new VolumeSnapshotClass({ metadata: { name: 'basalt', labels: labels('basalt-csi') }, driver: driverName, deletionPolicy: 'Delete' }),
  ];
}
