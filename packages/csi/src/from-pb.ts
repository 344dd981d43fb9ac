import type { csipb } from '@basalt/wire';
import type { CapacityRange } from './core/capacity.js';
import type { Capability } from './core/volume-capability.js';

/** A decoded csi.v1.VolumeCapability as the pure core reads it. */
export function capabilityFromPb(cap: csipb.IVolumeCapability): Capability {
  const accessType = cap.block ? 'block' : cap.mount ? 'mount' : null;
  return { accessType, fsType: cap.mount?.fsType ?? '', mountFlags: cap.mount?.mountFlags ?? [], mode: cap.accessMode?.mode ?? 0 };
}

/** A capacity range, or null when the request has none. */
export function rangeFromPb(range: csipb.ICapacityRange | null | undefined): CapacityRange | null {
  if (range === null || range === undefined) return null;
  return { requiredBytes: Number(range.requiredBytes ?? 0), limitBytes: Number(range.limitBytes ?? 0) };
}
