import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IResourceRequirements } from 'kubernetes-models/v1/ResourceRequirements';
import { Service } from 'kubernetes-models/v1/Service';
import type { Budget } from '../topology.js';
import { image, nodeOptions, ports } from '../topology.js';

/** Shared pieces of the Kubernetes manifests. */

export const namespace = 'basalt';
export const partOf = 'basalt';

export function labels(component: string): Record<string, string> {
  return { 'app.kubernetes.io/name': component, 'app.kubernetes.io/part-of': partOf };
}

/** Prometheus' conventional pod annotations: scrape /metrics on the metrics port. */
export const scrapeAnnotations: Record<string, string> = {
  'prometheus.io/scrape': 'true',
  'prometheus.io/port': String(ports.metrics),
  'prometheus.io/path': '/metrics',
};

export function resources(budget: Budget): IResourceRequirements {
  const memory = `${budget.memoryMiB}Mi`;
  return {
    requests: { cpu: `${budget.cpuRequestMilli}m`, memory },
    limits: { cpu: `${budget.cpuLimitMilli}m`, memory },
  };
}

/** The pod's own name and namespace, for ids and advertised addresses ($(POD_NAME) in args). */
export const podEnv: IEnvVar[] = [
  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
];

/** Live while /metrics answers; generous, since a loaded node can stall a Node process for seconds. */
export const livenessProbe: IProbe = {
  httpGet: { path: '/metrics', port: 'metrics' },
  periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6,
};

/** Gives a slow start (LevelDB recovery, a big extent index) a minute before liveness counts. */
export const startupProbe: IProbe = {
  httpGet: { path: '/metrics', port: 'metrics' },
  periodSeconds: 2, timeoutSeconds: 5, failureThreshold: 30,
};

/** Ready once the service port accepts connections. */
export function readinessProbe(port: string): IProbe {
  return { tcpSocket: { port }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 };
}

export interface ContainerSpec {
  name: string;
  args: string[];
  budget: Budget;
  servicePort: { name: string; port: number };
  env?: IEnvVar[];
}

/** A Basalt container: the image's entrypoint is the `basalt` CLI, `args` pick the role. */
export function basaltContainer(spec: ContainerSpec): IContainer {
  return {
    name: spec.name,
    image,
    imagePullPolicy: 'IfNotPresent',
    args: spec.args,
    env: [
      ...podEnv,
      { name: 'BASALT_METRICS_PORT', value: String(ports.metrics) },
      { name: 'NODE_OPTIONS', value: nodeOptions(spec.budget) },
      ...(spec.env ?? []),
    ],
    ports: [
      { name: spec.servicePort.name, containerPort: spec.servicePort.port, protocol: 'TCP' },
      { name: 'metrics', containerPort: ports.metrics, protocol: 'TCP' },
    ],
    resources: resources(spec.budget),
    startupProbe,
    livenessProbe,
    readinessProbe: readinessProbe(spec.servicePort.name),
  };
}

/** The unprivileged security context of metad and chunkd (the image's user owns the data volume). */
export const restrictedContainer: IContainer['securityContext'] = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

/**
 * A headless Service: one stable DNS name per StatefulSet pod (metad-0.metad.basalt.svc...).
 * Addresses are published before pods are ready: Raft members must find each other to get ready.
 */
export function headlessService(component: string, servicePort: { name: string; port: number }): Service {
  return new Service({
    metadata: { name: component, namespace, labels: labels(component) },
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: labels(component),
      ports: [
        { name: servicePort.name, port: servicePort.port, targetPort: servicePort.name },
        { name: 'metrics', port: ports.metrics, targetPort: 'metrics' },
      ],
    },
  });
}

/**
 * The fully qualified name of StatefulSet pod `pod` behind headless Service `service`; the kubelet
 * expands $(POD_NAMESPACE) in args. The kubelet also writes this name into the pod's /etc/hosts, so a
 * process can bind it before cluster DNS knows the pod. Assumes the cluster domain cluster.local.
 */
export function podDnsName(pod: string, service: string): string {
  return `${pod}.${service}.$(POD_NAMESPACE).svc.cluster.local`;
}

/** What the generator does with every kubernetes-models object: validate it against the schema, print it. */
export interface Manifest {
  validate(): void;
  toJSON(): unknown;
}
