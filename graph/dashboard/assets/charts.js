// Charts in SVG, drawn by hand: stacked bars and lines over a row of time
// buckets. Colours come from the stylesheet by class (c0…c7 for groups,
// or a named class), so no element has an inline style; every label is a
// text node.

import { s } from './ui.js';

const WIDTH = 560;
const HEIGHT = 210;
const LEFT = 58;
const RIGHT = 10;
const TOP = 10;
const BOTTOM = 24;

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// frame draws the axes: y ticks at 0, half and max formatted by format,
// and a label under every k-th bucket so that they do not overlap.
function frame(name, title, buckets, max, format, label) {
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - TOP - BOTTOM;
  const step = plotW / Math.max(1, buckets.length);
  const y = (v) => TOP + plotH - (v / max) * plotH;
  const svg = s('svg', { class: 'chart', width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': title, dataset: { chart: name } },
    s('title', {}, title));
  for (const v of [0, max / 2, max]) {
    svg.append(s('line', { x1: LEFT, x2: WIDTH - RIGHT, y1: y(v), y2: y(v), class: v === 0 ? 'axis' : 'grid' }),
      s('text', { x: LEFT - 5, y: y(v) + 4, class: 'tick-label', 'text-anchor': 'end' }, format(v)));
  }
  const every = Math.max(1, Math.ceil(buckets.length / Math.floor(plotW / 46)));
  buckets.forEach((b, i) => {
    if (i % every) return;
    svg.append(s('text', { x: LEFT + step * (i + 0.5), y: HEIGHT - 8, class: 'tick-label', 'text-anchor': 'middle' }, label(b)));
  });
  return { svg, step, y, x: (i) => LEFT + step * (i + 0.5) };
}

// barChart draws a bar per bucket, stacked by layer: layers are
// {label, cls, values: Map(bucket → number)}; a layer's value of 0 draws
// nothing. Each bucket is a g.bucket (data-start), each bar a rect.bar
// (data-start, data-group, data-value) with a tooltip.
export function barChart({ name, title, buckets, layers, format = String, label = String }) {
  const totals = buckets.map((b) => layers.reduce((sum, l) => sum + (l.values.get(b) || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const f = frame(name, title, buckets, max, (v) => (Number.isInteger(v) ? format(v) : ''), label);
  const w = Math.max(1, Math.min(40, f.step * 0.75));
  buckets.forEach((b, i) => {
    const g = s('g', { class: 'bucket', dataset: { start: b, total: totals[i] } });
    let base = 0;
    for (const l of layers) {
      const v = l.values.get(b) || 0;
      if (v <= 0) continue;
      g.append(s('rect', {
        x: f.x(i) - w / 2, y: f.y(base + v), width: w, height: Math.max(1, f.y(base) - f.y(base + v)),
        class: 'bar ' + l.cls, dataset: { start: b, group: l.label, value: v },
      }, s('title', {}, `${label(b)} · ${l.label}: ${format(v)}`)));
      base += v;
    }
    f.svg.append(g);
  });
  return f.svg;
}

// lineChart draws a line per series: {label, cls, dashed, values:
// Map(bucket → number or null)}. A null breaks the line; each value is also
// a dot with a tooltip.
export function lineChart({ name, title, buckets, lines, format = String, label = String, max }) {
  const all = lines.flatMap((l) => buckets.map((b) => l.values.get(b))).filter((v) => v !== null && v !== undefined);
  const top = max || niceMax(Math.max(0, ...all));
  const f = frame(name, title, buckets, top, format, label);
  for (const l of lines) {
    const g = s('g', { class: 'series ' + l.cls + (l.dashed ? ' dashed' : ''), dataset: { series: l.label } });
    let d = '';
    let pen = false;
    buckets.forEach((b, i) => {
      const v = l.values.get(b);
      if (v === null || v === undefined) { pen = false; return; }
      d += `${pen ? 'L' : 'M'} ${f.x(i).toFixed(1)} ${f.y(v).toFixed(1)} `;
      pen = true;
      g.append(s('circle', { cx: f.x(i), cy: f.y(v), r: 2.5, class: 'dot', dataset: { start: b, value: v } },
        s('title', {}, `${label(b)} · ${l.label}: ${format(v)}`)));
    });
    if (d) g.prepend(s('path', { d: d.trim(), class: 'line' }));
    f.svg.append(g);
  }
  return f.svg;
}

// legend lists the layers or lines of a chart with their colours.
export function legend(items) {
  return s('svg', { class: 'chart-legend', width: 560, height: 18 * Math.ceil(items.length / 4), viewBox: `0 0 560 ${18 * Math.ceil(items.length / 4)}` },
    items.map((it, i) => {
      const x = (i % 4) * 140, y = Math.floor(i / 4) * 18;
      return s('g', { class: 'legend-item ' + it.cls + (it.dashed ? ' dashed' : '') },
        s('rect', { x, y: y + 4, width: 12, height: 10, class: 'swatch' }),
        s('text', { x: x + 16, y: y + 13 }, it.label.length > 20 ? it.label.slice(0, 19) + '…' : it.label, s('title', {}, it.label)));
    }));
}
