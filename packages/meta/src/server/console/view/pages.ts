import { humanAge as age, humanBytes as bytes, humanDuration as duration, utcClock } from '@basalt/stdx';
import { cell, esc, table } from './html.js';
import type { ClusterSnapshot, ExtentRow, RatePoint, RepairRow, ServerRow, VolumeRow, VolumeSnapshot } from './model.js';

/**
 * The console's pages as the content of <main> (html.ts frames them): pure functions of a
 * snapshot, so each page is rendered the same way for a first load and for a live update.
 */

function updated(nowMs: number): string {
  return `<p class="updated">As of ${utcClock(nowMs)} UTC.</p>`;
}

export function clusterPage(s: ClusterSnapshot): string {
  const up = s.servers.filter((x) => x.state === 'up').length;
  const health = s.leaderId === '' ? 'no leader' : s.degradedTotal > 0 || up < s.servers.length ? 'degraded' : 'ok';
  const members = table('Metadata members', ['Member', 'Address', 'Role', 'Term', 'Commit index', 'Applied index', 'Kind'], s.members.map((m) => ({
    id: m.id,
    cells: [cell('id', m.id), cell('address', m.address), cell('role', m.role, m.role), cell('term', m.term), cell('commit', m.commitIndex), cell('applied', m.appliedIndex), cell('kind', m.learner ? 'learner' : 'voter')],
  })), 'No members.');
  return `<h1>Cluster ${esc(s.clusterName)}</h1>
${updated(s.nowMs)}
<dl aria-label="Cluster health">
<dt>Health</dt><dd data-field="health" class="state state-${health === 'ok' ? 'ok' : 'degraded'}">${health}</dd>
<dt>Leader</dt><dd data-field="leader">${esc(s.leaderId || 'none')}</dd>
<dt>Term</dt><dd data-field="term">${s.term}</dd>
<dt>Chunk servers up</dt><dd data-field="servers-up">${up} of ${s.servers.length}</dd>
<dt>Volumes</dt><dd data-field="volumes">${s.volumes.length}</dd>
<dt>Degraded extents</dt><dd data-field="degraded">${s.degradedTotal}</dd>
</dl>
<h2>Members</h2>
${members}
${repairSection(s.repair)}`;
}

function repairSection(r: RepairRow | undefined): string {
  if (r === undefined) return '';
  return `<h2>Repairs</h2>
<dl aria-label="Repairs in progress">
<dt>Degraded extents</dt><dd data-field="repair-degraded">${r.degradedExtents}</dd>
<dt>With one copy left</dt><dd data-field="repair-critical">${r.criticalExtents}</dd>
<dt>Waiting for a server to return</dt><dd data-field="repair-waiting">${r.waitingExtents}</dd>
<dt>Replicas being rebuilt</dt><dd data-field="repair-rebuilding">${r.rebuildingReplicas}</dd>
<dt>Bytes left</dt><dd data-field="repair-left">${bytes(r.bytesLeft)}</dd>
<dt>Rate</dt><dd data-field="repair-rate">${bytes(r.rateBytesPerSec)}/s</dd>
<dt>Time left</dt><dd data-field="repair-eta">${r.etaSeconds === 0 ? '-' : duration(r.etaSeconds)}</dd>
</dl>`;
}

export function serversPage(s: ClusterSnapshot): string {
  return `<h1>Chunk servers</h1>
${updated(s.nowMs)}
${serverTable(s.servers, s.nowMs)}`;
}

function serverTable(servers: readonly ServerRow[], nowMs: number): string {
  return table('Chunk servers', ['Server', 'Address', 'Zone', 'State', 'Capacity', 'Free', 'Extents', 'Last heartbeat'], servers.map((x) => ({
    id: x.id,
    cells: [
      cell('id', x.id), cell('address', x.address), cell('zone', x.zone), cell('state', x.state, x.state),
      cell('capacity', bytes(x.capacityBytes)), cell('free', bytes(x.freeBytes)), cell('extents', x.extentCount), cell('heartbeat', age(x.lastHeartbeatMs, nowMs)),
    ],
  })), 'No chunk server has registered yet.');
}

export function volumesPage(s: ClusterSnapshot): string {
  return `<h1>Volumes</h1>
${updated(s.nowMs)}
${table('Volumes', ['Volume', 'Size', 'Allocated', 'Replicas', 'Writer', 'Labels', 'Degraded extents'], s.volumes.map((v) => ({
    id: v.name,
    cells: [
      { col: 'name', html: `<a href="/volumes/${encodeURIComponent(v.name)}">${esc(v.name)}</a>` },
      cell('size', bytes(v.sizeBytes)), cell('allocated', allocated(v)), cell('replicas', v.replicationFactor),
      cell('writer', v.writer || '-'), cell('labels', labels(v.labels)), cell('degraded', v.degradedExtents, v.degradedExtents > 0 ? 'degraded' : 'ok'),
    ],
  })), 'No volumes. Create one with: basalt volume create NAME --size 1GiB')}`;
}

function allocated(v: VolumeRow): string {
  return `${bytes(v.allocatedExtents * v.extentSizeBytes)} (${v.allocatedExtents} of ${v.extentCount} extents)`;
}

function labels(l: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(l).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return pairs.length === 0 ? '-' : pairs.map(([k, v]) => `${k}=${v}`).join(', ');
}

export function volumePage(s: VolumeSnapshot): string {
  const v = s.volume;
  return `<h1>Volume ${esc(v.name)}</h1>
${updated(s.nowMs)}
<dl aria-label="Volume ${esc(v.name)}">
<dt>Size</dt><dd data-field="size">${bytes(v.sizeBytes)}</dd>
<dt>Extent size</dt><dd data-field="extent-size">${bytes(v.extentSizeBytes)}</dd>
<dt>Allocated</dt><dd data-field="allocated">${esc(allocated(v))}</dd>
<dt>Replicas</dt><dd data-field="replicas">${v.replicationFactor}</dd>
<dt>Writer</dt><dd data-field="writer">${esc(v.writer || 'none')}${v.writer ? ` (generation ${v.generation})` : ''}</dd>
<dt>Labels</dt><dd data-field="labels">${esc(labels(v.labels))}</dd>
<dt>Degraded extents</dt><dd data-field="degraded">${v.degradedExtents}</dd>
</dl>
<h2>I/O over the last minutes</h2>
${ratesSection(s)}
<h2>Extents</h2>
${extentTable(s.extents, s.serverStates, v.extentSizeBytes)}`;
}

function extentTable(extents: readonly ExtentRow[], states: ReadonlyMap<string, string>, extentSizeBytes: number): string {
  return table('Allocated extents and the chunk servers holding them (primary first)', ['Extent', 'Offset', 'Epoch', 'Primary', 'Replicas'], extents.map((e) => ({
    id: String(e.index),
    cells: [
      cell('index', e.index), cell('offset', bytes(e.index * extentSizeBytes)), cell('epoch', e.epoch), cell('primary', e.primary),
      { col: 'replicas', html: e.replicas.map((r) => `${esc(r)} <span class="state state-${esc(stateOf(states, r))}">(${esc(stateOf(states, r))})</span>`).join(', ') },
    ],
  })), 'No extent is allocated yet: extents get their replicas on their first write.');
}

function stateOf(states: ReadonlyMap<string, string>, id: string): string {
  return states.get(id) ?? 'unknown';
}

function ratesSection(s: VolumeSnapshot): string {
  if (!s.sampling) return '<p class="empty">No agent metrics are sampled by this console (metad --console-scrape).</p>';
  if (s.rates.length === 0) return '<p class="empty">No samples yet: the first appear after one sampling interval.</p>';
  const last = s.rates[s.rates.length - 1]!;
  return `<dl aria-label="Latest interval">
<dt>IOPS</dt><dd data-field="iops">${last.iops.toFixed(1)}</dd>
<dt>Read</dt><dd data-field="read-rate">${bytes(Math.round(last.readBytesPerSec))}/s</dd>
<dt>Write</dt><dd data-field="write-rate">${bytes(Math.round(last.writeBytesPerSec))}/s</dd>
<dt>Mean latency</dt><dd data-field="latency">${last.meanLatencyMs.toFixed(2)} ms</dd>
</dl>
${chart(s.rates, s.samplesMax, s.sampleIntervalMs)}
${table('Per interval, oldest first', ['Until', 'IOPS', 'Read/s', 'Write/s', 'Mean latency'], s.rates.map((p) => ({
    id: String(p.atMs),
    cells: [cell('at', utcClock(p.atMs)), cell('iops', p.iops.toFixed(1)), cell('read', `${bytes(Math.round(p.readBytesPerSec))}`), cell('write', `${bytes(Math.round(p.writeBytesPerSec))}`), cell('latency', `${p.meanLatencyMs.toFixed(2)} ms`)],
  })), '')}`;
}

/**
 * IOPS as bars, one slot per sample the console keeps (newest on the right), scaled to the
 * largest; an image with a text alternative (the table below has the numbers).
 */
function chart(points: readonly RatePoint[], slots: number, intervalMs: number): string {
  const w = 8;
  const h = 64;
  const width = Math.max(slots, points.length) * w;
  const peak = Math.max(0, ...points.map((p) => p.iops));
  const max = peak > 0 ? peak : 1;
  const first = width - points.length * w;
  const bars = points.map((p, i) => {
    const bh = Math.max(p.iops > 0 ? 1 : 0, Math.round((p.iops / max) * (h - 4)));
    return `<rect x="${first + i * w + 1}" y="${h - bh}" width="${w - 2}" height="${bh}" fill="#1f5f99"></rect>`;
  }).join('');
  return `<figure><svg role="img" aria-label="IOPS per interval, peak ${peak.toFixed(1)}" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}">`
    + `<rect x="0" y="0" width="${width}" height="${h}" fill="#f4f6f8" stroke="#8a96a3"></rect>${bars}</svg>`
    + `<figcaption>IOPS per ${duration(Math.round(intervalMs / 1000))} interval over the last ${duration(Math.round((slots * intervalMs) / 1000))}, peak ${peak.toFixed(1)}</figcaption></figure>`;
}

export function messagePage(title: string, message: string): string {
  return `<h1>${esc(title)}</h1>\n<p>${esc(message)}</p>`;
}
