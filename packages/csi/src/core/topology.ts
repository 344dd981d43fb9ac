/** The topology key of the driver: a node's or a volume's zone (Basalt's chunk server zones). */
export const zoneKey = 'topology.basalt.io/zone';

/** Topology segments, one per zone, sorted and without duplicates. */
export function zoneTopologies(zones: readonly string[]): { segments: Record<string, string> }[] {
  return [...new Set(zones.filter((z) => z !== ''))].sort().map((zone) => ({ segments: { [zoneKey]: zone } }));
}

/** The zones a TopologyRequirement's requisite list allows; null when it names none (anywhere). */
export function requisiteZones(requisite: readonly { segments?: Readonly<Record<string, string>> | null }[]): string[] | null {
  const zones = requisite.map((t) => t.segments?.[zoneKey]).filter((z): z is string => z !== undefined);
  return zones.length === 0 ? null : zones;
}
