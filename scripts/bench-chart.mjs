// Renders benchmark results (bench-results/latest.json) as an SVG chart: for each case,
// how many times longer each peer takes than shmkit, on a log scale (shmkit = 1×).
// Used by scripts/bench.mjs; also: node scripts/bench-chart.mjs results.json > chart.svg
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The SVG text for `results` (rows of { group, name, value, unit }); rows timed in ns/op or ms. */
export function renderChart(results, { title = 'shmkit against its peers, measured in the same run' } = {}) {
  const groups = [];
  for (const group of new Set(results.map((r) => r.group))) {
    const rows = results.filter((r) => r.group === group && (r.unit === 'ns/op' || r.unit === 'ms'))
      .map((r) => ({ ...r, value: r.unit === 'ms' ? r.value * 1e6 : r.value }));
    const base = rows.find((r) => r.name.startsWith('shmkit'));
    const peers = rows.filter((r) => r !== base && !r.name.startsWith('shmkit'));
    if (base && peers.length > 0) groups.push({ group, base, peers: peers.map((p) => ({ name: p.name, ratio: p.value / base.value })) });
  }
  const width = 1100;
  const left = 400; // peer names
  const right = 110; // ratio labels
  const barH = 16;
  const maxRatio = Math.max(10, ...groups.flatMap((g) => g.peers.map((p) => p.ratio)));
  const decades = Math.ceil(Math.log10(maxRatio));
  const lo = -1; // 0.1× at the left edge: a peer faster than shmkit shows as a short bar
  const x = (ratio) => left + ((Math.log10(Math.max(ratio, 0.1)) - lo) / (decades - lo)) * (width - left - right);
  const parts = [];
  let y = 56;
  for (const g of groups) {
    parts.push(`<text x="12" y="${y + 12}" class="group">${escape(g.group)} — shmkit ${escape(format(g.base.value))}</text>`);
    y += 20;
    for (const p of g.peers) {
      const faster = p.ratio >= 1;
      parts.push(`<text x="${left - 8}" y="${y + 12}" class="peer" text-anchor="end">${escape(p.name)}</text>`);
      parts.push(`<rect x="${x(0.1)}" y="${y}" width="${Math.max(1, x(p.ratio) - x(0.1)).toFixed(1)}" height="${barH}" class="${faster ? 'bar' : 'slower'}"/>`);
      parts.push(`<text x="${(x(p.ratio) + 6).toFixed(1)}" y="${y + 12}" class="ratio">${p.ratio >= 10 ? p.ratio.toFixed(0) : p.ratio.toFixed(2)}×</text>`);
      y += barH + 6;
    }
    y += 10;
  }
  const axis = [];
  for (let d = lo; d <= decades; d++) {
    const r = 10 ** d;
    axis.push(`<line x1="${x(r)}" y1="44" x2="${x(r)}" y2="${y}" class="${d === 0 ? 'one' : 'grid'}"/>`);
    axis.push(`<text x="${x(r)}" y="40" class="axis" text-anchor="middle">${r >= 1 ? r.toFixed(0) : r}×</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 30}" viewBox="0 0 ${width} ${y + 30}" font-family="sans-serif">
<style>.group{font-size:13px;font-weight:bold;fill:#222;paint-order:stroke;stroke:#fff;stroke-width:5px}.peer{font-size:12px;fill:#333}.ratio{font-size:12px;fill:#222}.axis{font-size:11px;fill:#666}
.bar{fill:#3a7bd5}.slower{fill:#d55e3a}.grid{stroke:#ddd}.one{stroke:#222;stroke-width:1.5}</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="12" y="20" font-size="15" font-weight="bold">${escape(title)}</text>
<text x="12" y="${y + 20}" class="axis">Bars: the peer's time divided by shmkit's (log scale). Right of the 1× line, shmkit is faster; left of it (red), the peer is.</text>
${axis.join('\n')}
${parts.join('\n')}
</svg>
`;
}

function format(ns) {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(0)} ns`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { results, node } = JSON.parse(readFileSync(process.argv[2] ?? 'bench-results/latest.json', 'utf8'));
  process.stdout.write(renderChart(results, { title: `shmkit against its peers, measured in the same run (Node ${node})` }));
}
