import { humanAge, humanBytes, utcClock } from '@basalt/stdx';

/** What one `basalt top` screen shows (gathered by commands/top.ts). */
export interface TopSnapshot {
  nowMs: number;
  leaderId: string;
  term: number;
  servers: readonly { id: string; zone: string; state: string; capacityBytes: number; freeBytes: number; extentCount: number; lastHeartbeatMs: number }[];
  volumes: readonly { name: string; sizeBytes: number; allocatedBytes: number; writer: string; degradedExtents: number }[];
  /** Latest I/O rates per volume; a volume without an entry shows '-'. */
  rates: ReadonlyMap<string, { iops: number; readBytesPerSec: number; writeBytesPerSec: number; meanLatencyMs: number }>;
  degradedTotal: number;
  /** Why the rates are missing (no agent to sample), or '' when they are sampled. */
  ratesNote: string;
}

/**
 * The screen as lines no wider than `columns`: a summary line, volumes by IOPS (then latency),
 * servers by load (used bytes, then extents), at most `rows` lines in all.
 */
export function renderTop(s: TopSnapshot, columns: number, rows: number): string[] {
  const up = s.servers.filter((x) => x.state === 'up').length;
  const lines = [
    `basalt top  ${utcClock(s.nowMs)} UTC  leader ${s.leaderId || 'none'} (term ${s.term})  servers ${up}/${s.servers.length} up  volumes ${s.volumes.length}  degraded extents ${s.degradedTotal}   q: quit`,
    '',
  ];
  const volumes = [...s.volumes].sort((a, b) => {
    const ra = s.rates.get(a.name);
    const rb = s.rates.get(b.name);
    return (rb?.iops ?? -1) - (ra?.iops ?? -1) || (rb?.meanLatencyMs ?? -1) - (ra?.meanLatencyMs ?? -1) || compare(a.name, b.name);
  });
  lines.push(...align(['VOLUME', 'IOPS', 'READ/S', 'WRITE/S', 'LAT MS', 'SIZE', 'ALLOCATED', 'DEGRADED', 'WRITER'], volumes.map((v) => {
    const r = s.rates.get(v.name);
    return [
      v.name, r === undefined ? '-' : r.iops.toFixed(1), r === undefined ? '-' : humanBytes(Math.round(r.readBytesPerSec)), r === undefined ? '-' : humanBytes(Math.round(r.writeBytesPerSec)),
      r === undefined ? '-' : r.meanLatencyMs.toFixed(2), humanBytes(v.sizeBytes), humanBytes(v.allocatedBytes), String(v.degradedExtents), v.writer || '-',
    ];
  })));
  if (s.ratesNote !== '') lines.push(s.ratesNote);
  lines.push('');
  const servers = [...s.servers].sort((a, b) => (b.capacityBytes - b.freeBytes) - (a.capacityBytes - a.freeBytes) || b.extentCount - a.extentCount || compare(a.id, b.id));
  lines.push(...align(['SERVER', 'ZONE', 'STATE', 'USED', 'CAPACITY', 'EXTENTS', 'HEARTBEAT'], servers.map((x) => [
    x.id, x.zone, x.state, `${humanBytes(x.capacityBytes - x.freeBytes)} (${x.capacityBytes === 0 ? 0 : Math.round(((x.capacityBytes - x.freeBytes) / x.capacityBytes) * 100)}%)`,
    humanBytes(x.capacityBytes), String(x.extentCount), humanAge(x.lastHeartbeatMs, s.nowMs),
  ])));
  return lines.slice(0, Math.max(1, rows)).map((l) => l.slice(0, Math.max(1, columns)));
}

function align(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((cells) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
