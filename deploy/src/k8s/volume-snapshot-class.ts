import type { Manifest } from './common.js';

/**
 * A VolumeSnapshotClass (snapshot.storage.k8s.io/v1, a CRD of kubernetes-csi/external-snapshotter
 * that kubernetes-models does not ship): the fields the CRD's schema requires, checked here.
 */
export interface VolumeSnapshotClassData {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: { readonly name: string; readonly labels?: Readonly<Record<string, string>>; readonly annotations?: Readonly<Record<string, string>> };
  readonly driver: string;
  readonly deletionPolicy: 'Delete' | 'Retain';
  readonly parameters?: Readonly<Record<string, string>>;
}

export class VolumeSnapshotClass implements Manifest {
  constructor(private readonly data: VolumeSnapshotClassData) {}

  validate(): void {
    const d = this.data as unknown as Record<string, unknown> & VolumeSnapshotClassData;
    const fail = (what: string): never => {
      throw new Error(`VolumeSnapshotClass: ${what}`);
    };
    if (d.apiVersion !== undefined && d.apiVersion !== 'snapshot.storage.k8s.io/v1') fail(`apiVersion ${String(d.apiVersion)}`);
    if (d.kind !== undefined && d.kind !== 'VolumeSnapshotClass') fail(`kind ${String(d.kind)}`);
    if (typeof d.metadata?.name !== 'string' || d.metadata.name === '') fail('metadata.name is required');
    if (typeof d.driver !== 'string' || d.driver === '') fail('driver is required');
    if (d.deletionPolicy !== 'Delete' && d.deletionPolicy !== 'Retain') fail(`deletionPolicy must be Delete or Retain, got ${String(d.deletionPolicy)}`);
    for (const [k, v] of Object.entries(d.parameters ?? {})) if (typeof v !== 'string') fail(`parameters.${k} must be a string`);
    const known = new Set(['apiVersion', 'kind', 'metadata', 'driver', 'deletionPolicy', 'parameters']);
    for (const k of Object.keys(d)) if (!known.has(k)) fail(`unknown field ${k}`);
  }

  toJSON(): unknown {
    return { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotClass', ...this.data };
  }
}
