/** HTML building blocks of the console pages: escaping, tables, units and the page frame. */

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for element content and quoted attribute values. */
export function esc(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => escapes[c] ?? c);
}

/** A cell: its text, and a `data-col` name tests and scripts can find it by. */
export interface Cell {
  col: string;
  html: string;
  /** Adds class="state-<value>" for a state cell. */
  state?: string;
}

export function cell(col: string, text: string | number, state?: string): Cell {
  return state === undefined ? { col, html: esc(text) } : { col, html: esc(text), state };
}

/** A table with a caption, column headers and rows keyed by `data-id`. */
export function table(caption: string, headers: readonly string[], rows: readonly { id: string; cells: readonly Cell[] }[], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${esc(empty)}</p>`;
  const head = headers.map((h) => `<th scope="col">${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr data-id="${esc(r.id)}">${r.cells.map(td).join('')}</tr>`).join('\n');
  return `<table><caption>${esc(caption)}</caption><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function td(c: Cell): string {
  const cls = c.state === undefined ? '' : ` class="state state-${esc(c.state.replace(/[^a-z-]/g, ''))}"`;
  return `<td data-col="${esc(c.col)}"${cls}>${c.html}</td>`;
}

export interface PageFrame {
  title: string;
  /** Which nav entry is current: '/', '/servers' or '/volumes'. */
  nav: string;
  /** Poll interval of the live-update script. */
  refreshMs: number;
}

const navItems = [['/', 'Cluster'], ['/servers', 'Chunk servers'], ['/volumes', 'Volumes']] as const;

/**
 * A whole page. The tables are in <main id="live">; the inline script refetches the same page with
 * ?fragment=1 and swaps that element's content, so the page updates without a reload and still
 * shows everything without JavaScript. A redirect (the leader moved) reloads the page; a failed
 * fetch (this member went away) says so in the header until one succeeds.
 */
export function page(frame: PageFrame, main: string): string {
  const nav = navItems.map(([href, label]) => `<li><a href="${href}"${href === frame.nav ? ' aria-current="page"' : ''}>${label}</a></li>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(frame.title)} - Basalt console</title>
<style>${style}</style>
</head>
<body>
<header><p class="brand">Basalt console</p><nav aria-label="Sections"><ul>${nav}</ul></nav><p id="conn" role="status"></p></header>
<main id="live" data-refresh-ms="${frame.refreshMs}">
${main}
</main>
<script>${script}</script>
</body>
</html>
`;
}

const style = `
body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1a1a1a;background:#fff}
header{background:#22313f;color:#fff;padding:.5rem 1rem;display:flex;gap:2rem;align-items:center}
.brand{font-weight:700;margin:0}
#conn{margin:0 0 0 auto;color:#ffd54f}
nav ul{list-style:none;display:flex;gap:1rem;margin:0;padding:0}
nav a{color:#fff}
nav a[aria-current]{font-weight:700;text-decoration:none}
main{padding:0 1rem 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid #c8c8c8;padding:.2rem .6rem;text-align:left}
th{background:#eef1f4}
td[data-col=iops],td[data-col=size],td[data-col=term]{font-variant-numeric:tabular-nums}
.state{font-weight:600}
.state-up,.state-leader,.state-ok{color:#0b6b18}
.state-down,.state-unreachable,.state-degraded{color:#a30000}
.state-out,.state-removed{color:#6b4c00}
.state-draining,.state-rebuilding{color:#004f8a}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dt{font-weight:600}
dd{margin:0}
.updated,.empty{color:#4a4a4a}
figure{margin:.5rem 0}
figcaption{color:#4a4a4a;font-size:.9em}
svg{display:block}
`;

const script = `(function(){var m=document.getElementById('live');var note=document.getElementById('conn');
var ms=Number(m.getAttribute('data-refresh-ms'))||1000;
function tick(){var u=location.pathname+(location.search?location.search+'&':'?')+'fragment=1';
fetch(u,{cache:'no-store',redirect:'manual'}).then(function(r){if(r.type==='opaqueredirect'){location.reload();return;}
return r.text().then(function(t){m.innerHTML=t;note.textContent='';});})
.catch(function(){note.textContent='Lost contact with this console; retrying.';}).then(function(){setTimeout(tick,ms);});}
setTimeout(tick,ms);})();`;
