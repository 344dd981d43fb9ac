/**
 * deploy/dashboards/basalt.json: a Grafana dashboard over the Prometheus metrics of metad
 * (packages/meta/src/server/metrics.ts), chunkd (packages/chunk/src/server/metrics.ts) and the NBD
 * agent (packages/agent/src/server/metrics.ts). Every metric it reads is listed in `dashboardMetrics`;
 * test/deploy-manifests.test.ts checks that each is registered somewhere in packages/.
 */

interface Target {
  expr: string;
  legendFormat: string;
}

interface Panel {
  title: string;
  unit: string;
  targets: Target[];
}

const rate = (metric: string, by: string): string => `sum by (${by}) (rate(${metric}[5m]))`;
const quantile = (q: number, metric: string, by: string): string =>
  `histogram_quantile(${q}, sum by (le, ${by}) (rate(${metric}_bucket[5m])))`;

function latency(title: string, metric: string, by: string, legend: string): Panel {
  return {
    title, unit: 's',
    targets: [
      { expr: quantile(0.5, metric, by), legendFormat: `p50 ${legend}` },
      { expr: quantile(0.99, metric, by), legendFormat: `p99 ${legend}` },
    ],
  };
}

const rows: { title: string; panels: Panel[] }[] = [
  {
    title: 'metad (Raft)',
    panels: [
      { title: 'Term', unit: 'none', targets: [{ expr: 'basalt_meta_term', legendFormat: '{{instance}}' }] },
      { title: 'Role (1 = has the role)', unit: 'none', targets: [{ expr: 'basalt_meta_role == 1', legendFormat: '{{instance}} {{role}}' }] },
      {
        title: 'Commit and apply index', unit: 'none',
        targets: [
          { expr: 'basalt_meta_commit_index', legendFormat: 'commit {{instance}}' },
          { expr: 'basalt_meta_applied_index', legendFormat: 'applied {{instance}}' },
        ],
      },
      latency('Proposal latency (proposal to apply)', 'basalt_meta_proposal_seconds', 'instance', '{{instance}}'),
      latency('fsync latency (synced LevelDB batch)', 'basalt_meta_fsync_seconds', 'instance', '{{instance}}'),
      { title: 'Meta API errors', unit: 'reqps', targets: [{ expr: rate('basalt_meta_rpc_errors_total', 'method, code'), legendFormat: '{{method}} {{code}}' }] },
      // Every member reports its applied view; the leader's is the current one.
      { title: 'Chunk servers', unit: 'none', targets: [{ expr: 'max by (state) (basalt_meta_chunk_servers * on (instance) group_left basalt_meta_is_leader)', legendFormat: '{{state}}' }] },
      {
        title: 'Extents (degraded: fewer replicas up than the factor)', unit: 'none',
        targets: [
          { expr: 'max(basalt_meta_degraded_extents * on (instance) basalt_meta_is_leader)', legendFormat: 'degraded' },
          { expr: 'max(basalt_meta_allocated_extents * on (instance) basalt_meta_is_leader)', legendFormat: 'allocated' },
        ],
      },
    ],
  },
  {
    title: 'chunkd',
    panels: [
      { title: 'Operations', unit: 'ops', targets: [{ expr: rate('basalt_chunk_ops_total', 'instance, op'), legendFormat: '{{instance}} {{op}}' }] },
      { title: 'Bytes', unit: 'Bps', targets: [{ expr: rate('basalt_chunk_bytes_total', 'instance, op'), legendFormat: '{{instance}} {{op}}' }] },
      latency('Operation latency', 'basalt_chunk_op_seconds', 'op', '{{op}}'),
      { title: 'Checksum errors', unit: 'cps', targets: [{ expr: rate('basalt_chunk_checksum_errors_total', 'instance, where'), legendFormat: '{{instance}} {{where}}' }] },
      {
        title: 'Disk free', unit: 'percentunit',
        targets: [{ expr: 'basalt_chunk_disk_free_bytes / basalt_chunk_disk_capacity_bytes', legendFormat: '{{instance}}' }],
      },
      { title: 'Degraded extents', unit: 'none', targets: [{ expr: 'basalt_chunk_degraded_extents', legendFormat: '{{instance}}' }] },
      { title: 'Stored bytes per volume (all replicas)', unit: 'bytes', targets: [{ expr: 'sum by (volume_id) (basalt_chunk_volume_stored_bytes)', legendFormat: 'volume {{volume_id}}' }] },
    ],
  },
  {
    title: 'Healing (re-replication, catch-up, scrub)',
    panels: [
      {
        title: 'Redundancy (leader): degraded extents and copies planned or running', unit: 'none',
        targets: [
          { expr: 'max(basalt_meta_degraded_extents * on (instance) basalt_meta_is_leader)', legendFormat: 'degraded extents' },
          { expr: 'max(basalt_meta_rebuilding_replicas * on (instance) basalt_meta_is_leader)', legendFormat: 'rebuilding replicas' },
        ],
      },
      { title: 'Repair bytes (per primary)', unit: 'Bps', targets: [{ expr: rate('basalt_chunk_repair_bytes_total', 'instance, kind, what'), legendFormat: '{{instance}} {{kind}} {{what}}' }] },
      {
        title: 'Copies running and bytes left', unit: 'bytes',
        targets: [
          { expr: 'basalt_chunk_repair_bytes_left', legendFormat: 'left {{instance}}' },
          { expr: 'basalt_chunk_repair_copies', legendFormat: 'copies {{instance}}' },
        ],
      },
      { title: 'Copies ended (failed: the target failed, reported)', unit: 'ops', targets: [{ expr: rate('basalt_chunk_repairs_total', 'instance, result'), legendFormat: '{{instance}} {{result}}' }] },
      { title: 'Planner actions (leader)', unit: 'ops', targets: [{ expr: rate('basalt_meta_repair_actions_total', 'kind, result'), legendFormat: '{{kind}} {{result}}' }] },
      {
        title: 'Scrub: blocks repaired and unrepairable (alert on unrepairable)', unit: 'none',
        targets: [{ expr: 'sum by (instance, result) (increase(basalt_chunk_scrub_blocks_total[1h]))', legendFormat: '{{instance}} {{result}}' }],
      },
      { title: 'Scrub bytes read', unit: 'Bps', targets: [{ expr: rate('basalt_chunk_scrub_bytes_total', 'instance'), legendFormat: '{{instance}}' }] },
      {
        title: 'Since the last scrub pass', unit: 's',
        targets: [{ expr: 'time() - (basalt_chunk_scrub_last_pass_timestamp_seconds > 0)', legendFormat: '{{instance}}' }],
      },
    ],
  },
  {
    title: 'NBD agent (per volume)',
    panels: [
      { title: 'Operations', unit: 'ops', targets: [{ expr: rate('basalt_nbd_ops_total', 'volume, op'), legendFormat: '{{volume}} {{op}}' }] },
      { title: 'Bytes', unit: 'Bps', targets: [{ expr: rate('basalt_nbd_bytes_total', 'volume, op'), legendFormat: '{{volume}} {{op}}' }] },
      latency('Request latency', 'basalt_nbd_op_duration_seconds', 'volume, op', '{{volume}} {{op}}'),
      { title: 'Errors', unit: 'reqps', targets: [{ expr: rate('basalt_nbd_errors_total', 'volume, op, errno'), legendFormat: '{{volume}} {{op}} errno {{errno}}' }] },
      { title: 'Open connections', unit: 'none', targets: [{ expr: 'sum by (volume) (basalt_nbd_connections)', legendFormat: '{{volume}}' }] },
    ],
  },
];

/** The metric families the dashboard reads (histograms by their base name). */
export function dashboardMetrics(): string[] {
  const names = new Set<string>();
  for (const row of rows) {
    for (const panel of row.panels) {
      for (const t of panel.targets) for (const m of t.expr.matchAll(/basalt_[a-z_]+/g)) names.add(m[0].replace(/_bucket$/, ''));
    }
  }
  return [...names].sort();
}

const panelWidth = 8;
const panelHeight = 8;

/** The dashboard as Grafana's JSON model (schemaVersion 39), with a Prometheus data source variable. */
export function dashboard(): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of rows) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    row.panels.forEach((panel, i) => {
      panels.push({
        id: id++,
        type: 'timeseries',
        title: panel.title,
        datasource: { type: 'prometheus', uid: '${datasource}' },
        fieldConfig: { defaults: { unit: panel.unit }, overrides: [] },
        options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'none' } },
        gridPos: { h: panelHeight, w: panelWidth, x: (i % 3) * panelWidth, y: y + Math.floor(i / 3) * panelHeight },
        targets: panel.targets.map((t, j) => ({ refId: String.fromCharCode(65 + j), expr: t.expr, legendFormat: t.legendFormat })),
      });
    });
    y += Math.ceil(row.panels.length / 3) * panelHeight;
  }
  return {
    title: 'Basalt',
    uid: 'basalt-overview',
    tags: ['basalt'],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    editable: true,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    templating: {
      list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus', current: {}, hide: 0 }],
    },
    annotations: { list: [] },
    panels,
  };
}
