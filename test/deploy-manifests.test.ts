import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandGroups } from '@basalt/cli';
import { parseChunkdArgs } from '@basalt/chunk';
import { describe, expect, it } from 'vitest';
import type { CSIDriver, DaemonSet, Deployment, StorageClass, NetworkPolicy, Pod, PodDisruptionBudget, Service, StatefulSet } from '../deploy/src/check.js';
import { lintContainerfile, validateObject, yamlDocuments } from '../deploy/src/check.js';
import type { ComposeFile } from '../deploy/src/compose.js';
import { dashboardMetrics } from '../deploy/src/dashboard.js';
import { deployDir } from '../deploy/src/podman.js';
import { renderAll } from '../deploy/src/render.js';
import { image } from '../deploy/src/topology.js';
import { driverName, parseParameters } from '@basalt/csi';

/**
 * The deploy/ artifacts as files: generated ones are current, Kubernetes objects pass schema
 * validation, the commands in them use flags the CLI accepts, the dashboard reads metrics the
 * services register, and the Containerfile lints clean. No containers here (deploy-containers.test.ts).
 */

const repoRoot = join(deployDir, '..');
const read = (file: string): string => readFileSync(join(deployDir, file), 'utf8');

const objects = (file: string): Record<string, unknown>[] => yamlDocuments(read(file));

const k8sFiles = ['k8s/namespace.yaml', 'k8s/metad.yaml', 'k8s/chunkd.yaml', 'k8s/agent.yaml', 'k8s/dev/basalt-dev.yaml', 'k8s/csi.yaml'];
const byKind = (kind: string): Record<string, unknown>[] => k8sFiles.flatMap(objects).filter((o) => o.kind === kind);

/** Every flag in `args` must be an option of the CLI command the args name. */
function unknownCliFlags(args: readonly string[]): string[] {
  const group = commandGroups.find((g) => g.name === args[0]);
  const command = group?.commands.find((c) => c.name === (group.commands.length === 1 && group.commands[0]?.name === '' ? '' : args[1]));
  if (command === undefined) return [`no command "${args.slice(0, 2).join(' ')}"`];
  return args.filter((a) => a.startsWith('--')).map((a) => a.slice(2)).filter((flag) => !(flag in command.options));
}

describe('deploy manifests', () => {
  it('the committed compose file, Kubernetes manifests and dashboard equal the generator output', () => {
    for (const [file, content] of renderAll()) expect(read(file), `${file} is stale: run pnpm --filter @basalt/deploy generate`).toBe(content);
  });

  it('every committed Kubernetes object passes schema validation', () => {
    const all = k8sFiles.flatMap(objects);
    expect(all.length).toBeGreaterThanOrEqual(15);
    for (const o of all) expect(() => validateObject(o), `${String(o.kind)} in deploy/k8s`).not.toThrow();
  });

  it('schema validation catches a wrong type and a missing required field', () => {
    const [set] = byKind('StatefulSet');
    const wrongType = structuredClone(set) as { spec: { replicas: unknown } };
    wrongType.spec.replicas = 'three';
    expect(() => validateObject(wrongType as unknown as Record<string, unknown>)).toThrow(/replicas/);
    const noSelector = structuredClone(set) as { spec: Record<string, unknown> };
    delete noSelector.spec.selector;
    expect(() => validateObject(noSelector as unknown as Record<string, unknown>)).toThrow(/selector/);
  });

  it('metad and chunkd are StatefulSets with claims, stable names, budgets, probes and scrape annotations', () => {
    const sets = byKind('StatefulSet') as unknown as StatefulSet[];
    expect(sets.map((s) => s.metadata?.name).sort()).toEqual(['chunkd', 'metad']);
    const services = byKind('Service') as unknown as Service[];
    for (const set of sets) {
      const spec = set.spec!;
      expect(spec.replicas).toBe(3);
      expect(spec.podManagementPolicy).toBe('Parallel');
      expect(spec.volumeClaimTemplates?.[0]?.metadata?.name).toBe('data');
      const headless = services.find((s) => s.metadata?.name === spec.serviceName);
      expect(headless?.spec?.clusterIP).toBe('None');
      const pod = spec.template.spec!;
      expect(spec.template.metadata?.annotations?.['prometheus.io/scrape']).toBe('true');
      const [container] = pod.containers;
      expect(container?.resources?.limits?.memory).toBe('256Mi');
      expect(container?.resources?.requests?.memory).toBe('256Mi');
      expect(container?.readinessProbe).toBeDefined();
      expect(container?.livenessProbe?.httpGet?.path).toBe('/metrics');
      expect(container?.volumeMounts?.some((m) => m.name === 'data' && m.mountPath === '/var/lib/basalt')).toBe(true);
      expect(container?.securityContext?.runAsNonRoot).toBe(true);
    }
  });

  it('the disruption budget keeps a Raft quorum of metad', () => {
    const budgets = byKind('PodDisruptionBudget') as unknown as PodDisruptionBudget[];
    const meta = budgets.find((b) => b.metadata?.name === 'metad');
    expect(meta?.spec?.minAvailable).toBe(2);
    expect(budgets.find((b) => b.metadata?.name === 'chunkd')?.spec?.maxUnavailable).toBe(1);
  });

  it('the agent is a privileged DaemonSet whose NBD port only the pod itself reaches', () => {
    const [agent] = byKind('DaemonSet') as unknown as DaemonSet[];
    const container = agent?.spec?.template.spec?.containers[0];
    expect(container?.securityContext?.privileged).toBe(true);
    expect(container?.volumeMounts?.some((m) => m.mountPath === '/dev')).toBe(true);
    const [policy] = byKind('NetworkPolicy') as unknown as NetworkPolicy[];
    expect(policy?.spec?.ingress?.flatMap((r) => r.ports?.map((p) => p.port))).toEqual([9464]);
  });

  it('the CSI driver: a controller with the provisioner, attacher, resizer and snapshotter, a privileged node plugin with the registrar, the CSIDriver, a StorageClass the driver accepts and a VolumeSnapshotClass', () => {
    const [driver] = byKind('CSIDriver') as unknown as CSIDriver[];
    expect(driver?.metadata?.name).toBe(driverName);
    expect(driver?.spec.attachRequired).toBe(false);
    const [controller] = byKind('Deployment') as unknown as Deployment[];
    const sidecarImages = controller?.spec?.template.spec?.containers.map((c) => c.image?.replace(/^.*\/|:.*$/g, ''));
    expect(sidecarImages).toEqual(['basalt', 'csi-provisioner', 'csi-attacher', 'csi-resizer', 'csi-snapshotter']);
    expect(byKind('VolumeSnapshotClass')).toMatchObject([{ apiVersion: 'snapshot.storage.k8s.io/v1', driver: driverName, deletionPolicy: 'Delete' }]);
    const nodePlugin = (byKind('DaemonSet') as unknown as DaemonSet[]).find((d) => d.metadata?.name === 'basalt-csi-node');
    const containers = nodePlugin?.spec?.template.spec?.containers ?? [];
    expect(containers.map((c) => c.name)).toEqual(['csi', 'agent', 'agent-read-only', 'node-driver-registrar']);
    const csi = containers[0];
    // Read-only stages go to the read-only agent (no writer lease), on its own NBD and metrics ports.
    expect(csi?.args).toEqual(expect.arrayContaining(['--agent', '127.0.0.1:10809', '--read-only-agent', '127.0.0.1:10810']));
    expect(containers[2]?.args).toEqual(expect.arrayContaining(['--listen', '127.0.0.1:10810', '--metrics-port', '9465', '--read-only']));
    expect(csi?.securityContext?.privileged).toBe(true);
    expect(csi?.volumeMounts?.find((m) => m.mountPath === '/var/lib/kubelet')?.mountPropagation).toBe('Bidirectional');
    expect(csi?.volumeMounts?.some((m) => m.mountPath === '/dev')).toBe(true);
    expect(containers[3]?.args).toContain('--kubelet-registration-path=/var/lib/kubelet/plugins/csi.basalt.io/csi.sock');
    const [storageClass] = byKind('StorageClass') as unknown as StorageClass[];
    expect(storageClass?.provisioner).toBe(driverName);
    expect(storageClass?.allowVolumeExpansion).toBe(true);
    expect(parseParameters(storageClass?.parameters ?? {})).toEqual({ replicationFactor: 3, extentSizeBytes: 64 * 2 ** 20, encrypt: false });
  });

  it('the commands in compose.yaml and the manifests use flags the CLI and chunkd accept', () => {
    const compose = objects('compose.yaml')[0] as unknown as ComposeFile;
    const commands = [
      ...Object.values(compose.services).map((s) => s.command),
      ...['k8s/metad.yaml', 'k8s/chunkd.yaml', 'k8s/agent.yaml', 'k8s/dev/basalt-dev.yaml', 'k8s/csi.yaml'].flatMap((f) =>
        objects(f).flatMap((o) => {
          const spec = (o as { spec?: { template?: { spec?: Pod['spec'] }; containers?: unknown } }).spec;
          const pod = o.kind === 'Pod' ? (o as unknown as Pod).spec : spec?.template?.spec;
          const containers = (pod?.containers ?? []).filter((c) => c.image === image);
          // The kubelet expands only variables the container defines; any other $(NAME) stays as it is.
          for (const c of containers) {
            const defined = (c.env ?? []).map((e) => e.name);
            for (const used of (c.args ?? []).join(' ').matchAll(/\$\((\w+)\)/g)) expect(defined, `${f} ${c.name}`).toContain(used[1]);
          }
          return containers.map((c) => c.args ?? []);
        })),
    ];
    expect(commands.length).toBe(7 + 3 + 7 + 4);
    // What the kubelet would put in for the downward-API variables.
    const expand = (a: string): string => a.replaceAll('$(POD_NAME)', 'pod-0').replaceAll('$(POD_NAMESPACE)', 'basalt').replaceAll('$(NODE_NAME)', 'node-a');
    for (const args of commands.map((c) => c.map(expand))) {
      if (args[0] === 'chunk') {
        // `basalt chunk start` hands its flags to chunkd's own parser (strict: unknown flags throw).
        expect(() => parseChunkdArgs(args.slice(2))).not.toThrow();
        continue;
      }
      expect(unknownCliFlags(args), args.join(' ')).toEqual([]);
    }
  });

  it('compose.yaml runs 3 metad, 3 chunkd and an agent on one internal network with named volumes', () => {
    const compose = objects('compose.yaml')[0] as unknown as ComposeFile;
    expect(Object.keys(compose.services).sort()).toEqual(['agent', 'chunkd-0', 'chunkd-1', 'chunkd-2', 'metad-0', 'metad-1', 'metad-2']);
    expect(Object.keys(compose.volumes).sort()).toEqual(['chunkd-0', 'chunkd-1', 'chunkd-2', 'metad-0', 'metad-1', 'metad-2']);
    expect(Object.values(compose.networks).filter((n) => n.internal === true)).toHaveLength(1);
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.networks).toContain('basalt');
      if (name !== 'agent') expect(s.volumes).toEqual([`${name}:/var/lib/basalt`]);
    }
  });

  it('the dashboard reads only metrics that metad, chunkd and the agent register', () => {
    const registered = new Set<string>();
    for (const pkg of ['meta', 'chunk', 'agent']) {
      const dir = join(repoRoot, 'packages', pkg, 'src');
      for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
        if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
        for (const m of readFileSync(join(dir, file), 'utf8').matchAll(/'(basalt_[a-z_]+)'/g)) registered.add(m[1]!);
      }
    }
    const used = dashboardMetrics();
    expect(used.length).toBeGreaterThanOrEqual(15);
    expect(used.filter((m) => !registered.has(m))).toEqual([]);
    const board = JSON.parse(read('dashboards/basalt.json')) as { panels: { type: string }[] };
    expect(board.panels.filter((p) => p.type === 'timeseries').length).toBeGreaterThanOrEqual(15);
  });

  it('the Containerfile lints clean with dockerfile-utils, and the linter flags a broken one', () => {
    const containerfiles = readdirSync(join(deployDir, 'images')).filter((f) => f.startsWith('Containerfile'));
    expect(containerfiles.length).toBeGreaterThanOrEqual(1);
    for (const file of containerfiles) expect(lintContainerfile(read(join('images', file))), file).toEqual([]);
    expect(lintContainerfile('FROM\nHEALTHCHECK CMD true\nHEALTHCHECK CMD false\nEXPOSE port\n').length).toBeGreaterThanOrEqual(2);
  });
});
