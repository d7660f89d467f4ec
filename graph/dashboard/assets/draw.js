// Drawings of a plan in SVG: swimlanes (a lane per step group, steps in
// columns by their depth in the dependency graph, arrows for dependencies)
// and a Gantt timeline. Colours come from the stylesheet by the classes
// st-<STATUS> and jp-<JEOPARDY>, so a live change is a class change.

import { s, when, duration } from './ui.js';

const W = 140; // step box
const H = 34;
const COL = W + 38;
const ROW = H + 12;
const LABEL = 152;
const PAD = 10;

// depths returns each step's column: the length of the longest chain of
// dependencies before it (dependencies outside the plan are ignored).
export function depths(steps) {
  const byId = new Map(steps.map((st) => [st.id, st]));
  const depth = new Map();
  const visiting = new Set();
  const visit = (st) => {
    if (depth.has(st.id)) return depth.get(st.id);
    if (visiting.has(st.id)) return 0; // a cycle cannot be planned; be safe
    visiting.add(st.id);
    let d = 0;
    for (const dep of st.dependsOn || []) {
      const p = byId.get(dep.id);
      if (p) d = Math.max(d, visit(p) + 1);
    }
    visiting.delete(st.id);
    depth.set(st.id, d);
    return d;
  };
  steps.forEach(visit);
  return depth;
}

export function stepClass(st, critical) {
  return `step st-${st.status} jp-${st.jeopardy}${critical ? ' critical' : ''}`;
}

// swimlanes draws the plan; onSelect(step) is called when a step is clicked.
export function swimlanes(plan, critical, onSelect) {
  const groups = [...(plan.groups || [])].sort((a, b) => a.position - b.position);
  const steps = plan.steps || [];
  const depth = depths(steps);
  const cols = Math.max(0, ...steps.map((st) => depth.get(st.id))) + 1;
  const pos = new Map();
  let y = 0;
  const lanes = [];
  for (const g of groups) {
    const mine = steps.filter((st) => st.groupID === g.id);
    const stack = new Map(); // column -> steps placed
    for (const st of mine) {
      const c = depth.get(st.id);
      const row = stack.get(c) || 0;
      stack.set(c, row + 1);
      pos.set(st.id, { x: LABEL + PAD + c * COL, y: y + PAD + row * ROW });
    }
    const rows = Math.max(1, ...stack.values());
    const height = rows * ROW + 2 * PAD - 12;
    lanes.push({ g, y, height });
    y += height;
  }
  const width = LABEL + PAD + cols * COL;
  const svg = s('svg', { class: 'swimlanes', width, height: y, viewBox: `0 0 ${width} ${y}`, role: 'img', 'aria-label': 'plan swimlanes' },
    s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' }))),
    lanes.map(({ g, y, height }, i) => s('g', { class: 'lane' + (i % 2 ? ' odd' : ''), dataset: { group: g.name } },
      s('rect', { x: 0, y, width, height, class: 'lane-bg' }),
      s('text', { x: 8, y: y + 20, class: 'lane-label' }, g.name))),
  );
  const edges = s('g', { class: 'edges' });
  svg.append(edges);
  for (const st of steps) {
    const to = pos.get(st.id);
    for (const dep of st.dependsOn || []) {
      const from = pos.get(dep.id);
      if (!from || !to) continue;
      const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x, y2 = to.y + H / 2;
      const mx = (x1 + x2) / 2;
      edges.append(s('path', { d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2 - 1} ${y2}`, class: 'edge', 'marker-end': 'url(#arrow)', dataset: { from: dep.id, to: st.id } }));
    }
  }
  for (const st of steps) {
    const p = pos.get(st.id);
    if (!p) continue; // a step of no group: not drawn
    const node = s('g', {
      class: stepClass(st, critical.has(st.id)), transform: `translate(${p.x} ${p.y})`, tabindex: 0,
      dataset: { stepId: st.id, name: st.name, status: st.status, jeopardy: st.jeopardy },
      onclick: () => onSelect(st.id), onkeydown: (ev) => ev.key === 'Enter' && onSelect(st.id),
    },
    s('title', {}, `${st.name} (${st.type}) ${st.status}, ${st.jeopardy}`),
    s('rect', { width: W, height: H, rx: 5, class: 'box' }),
    s('text', { x: 8, y: 14, class: 'name' }, st.name.length > 17 ? st.name.slice(0, 16) + '…' : st.name),
    s('text', { x: 8, y: 28, class: 'status' }, st.status),
    s('circle', { cx: W - 9, cy: 9, r: 5, class: 'jeopardy' }));
    svg.append(node);
  }
  return svg;
}

// updateStep recolours a drawn step in place, in the swimlanes and on the
// timeline.
export function updateStep(root, st) {
  for (const node of root.querySelectorAll(`[data-step-id="${CSS.escape(st.id)}"]`)) {
    if (node.classList.contains('step')) {
      node.setAttribute('class', stepClass(st, node.classList.contains('critical')));
      const t = node.querySelector('text.status');
      if (t) t.textContent = st.status;
      const title = node.querySelector('title');
      if (title) title.textContent = `${st.name} (${st.type}) ${st.status}, ${st.jeopardy}`;
    } else if (node.classList.contains('bar')) {
      // A timeline bar: same classes, other shape.
      node.setAttribute('class', node.getAttribute('class')
        .replace(/\bst-[A-Z_]+/, 'st-' + st.status).replace(/\bjp-[A-Z_]+/, 'jp-' + st.jeopardy));
    }
    node.dataset.status = st.status;
    node.dataset.jeopardy = st.jeopardy;
  }
}

// basisText says where a timeline row's duration comes from.
export function basisText(e) {
  const sec = (v) => (v === null || v === undefined ? '' : duration(v * 1000));
  switch (e.basis) {
    case 'HISTORY': return `p50 ${sec(e.p50Seconds)}, p90 ${sec(e.p90Seconds)} from ${e.samples} completions`;
    case 'ESTIMATE': return `catalog estimate ${sec(e.p50Seconds)}` + (e.samples ? ` (${e.samples} completions: too few)` : '');
    default: return 'no duration' + (e.samples ? ` (${e.samples} completions: too few)` : '');
  }
}

const BASIS_LABEL = { HISTORY: 'history', ESTIMATE: 'estimate', NONE: '—' };

// gantt draws Plan.timeline: a row per entry in the server's order
// (swimlane by swimlane, by planned start). Each row has the forecast
// (plannedStart → plannedEnd) as a thin bar, and a bar coloured by the
// step's status: its actual times (an open step's up to now), or, before it
// started, the planned ones, dashed. A row whose step has neither (a
// cancelled step that never became ready) has no bar. Marks: now, the
// predicted completion (p50 and p90) and the requested one.
export function gantt(plan, timeline, now = Date.now()) {
  const t = (v) => (v ? Date.parse(v) : null);
  const rows = (timeline || []).map((e) => {
    const ps = t(e.plannedStart), pe = t(e.plannedEnd), as = t(e.actualStart), ae = t(e.actualEnd);
    let bar = null;
    if (as) bar = { start: as, end: Math.max(as, ae || now), projected: false };
    else if (ps) bar = { start: ps, end: Math.max(ps, pe || ps), projected: true };
    const planned = ps && pe ? { start: ps, end: Math.max(ps, pe) } : null;
    return { e, bar, planned };
  });
  const marks = [
    ['now', now],
    ['predicted', t(plan.predictedCompletion)],
    ['p90', t(plan.predictedCompletionP90)],
    ['requested', t(plan.requestedCompletion)],
  ].filter(([, v]) => v);
  // p90 on top of predicted says nothing more.
  if (marks.some(([n]) => n === 'p90') && t(plan.predictedCompletionP90) === t(plan.predictedCompletion)) {
    marks.splice(marks.findIndex(([n]) => n === 'p90'), 1);
  }
  const times = rows.flatMap(({ bar, planned }) => [bar, planned].filter(Boolean).flatMap((b) => [b.start, b.end]));
  let t0 = Math.min(...times, now);
  let t1 = Math.max(...times, ...marks.map(([, v]) => v));
  if (!isFinite(t0)) t0 = now;
  if (!(t1 > t0)) t1 = t0 + 60000;
  const left = 220, right = 20, top = 22, row = 20, width = 980;
  const span = t1 - t0;
  const x = (v) => left + ((v - t0) / span) * (width - left - right);
  const height = top + rows.length * row + 8;
  const svg = s('svg', { class: 'gantt', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'plan timeline' });
  for (let i = 0; i <= 4; i++) {
    const v = t0 + (span * i) / 4;
    svg.append(s('line', { x1: x(v), x2: x(v), y1: top - 4, y2: height, class: 'tick' }),
      s('text', { x: x(v), y: 12, class: 'tick-label', 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' }, when(v).slice(5, 16)));
  }
  rows.forEach(({ e, bar, planned }, i) => {
    const st = e.step;
    const y = top + i * row;
    const crit = e.critical;
    svg.append(
      s('text', { x: left - 66, y: y + 13, class: 'row-label' + (crit ? ' critical' : ''), 'text-anchor': 'end' },
        st.name.length > 22 ? st.name.slice(0, 21) + '…' : st.name, s('title', {}, `${st.name} (${e.swimlane})`)),
      s('text', { x: left - 60, y: y + 13, class: 'basis basis-' + e.basis }, BASIS_LABEL[e.basis] || e.basis,
        s('title', {}, basisText(e))));
    if (planned) {
      svg.append(s('rect', {
        x: x(planned.start), y: y + row - 5, width: Math.max(2, x(planned.end) - x(planned.start)), height: 3,
        class: 'planned' + (crit ? ' critical' : ''), dataset: { stepId: st.id },
      }, s('title', {}, `${st.name} planned: ${when(planned.start)} → ${when(planned.end)} (${duration(planned.end - planned.start)}; ${basisText(e)})`)));
    }
    if (!bar) return;
    const actual = bar.projected ? 'not started' : `actual ${when(bar.start)} → ${e.actualEnd ? when(bar.end) : 'now'}`;
    svg.append(s('rect', {
      x: x(bar.start), y: y + 3, width: Math.max(3, x(bar.end) - x(bar.start)), height: row - 9, rx: 2,
      class: `bar st-${st.status} jp-${st.jeopardy}${crit ? ' critical' : ''}${bar.projected ? ' projected' : ''}`,
      dataset: { stepId: st.id, status: st.status, basis: e.basis },
    }, s('title', {}, `${st.name}: ${actual}` +
      (planned ? `; planned ${when(planned.start)} → ${when(planned.end)}` : '') +
      ` (${duration(bar.end - bar.start)}; ${basisText(e)})${crit ? ', critical path' : ''}`)));
  });
  // Labels alternate between two heights, so that near marks stay legible.
  marks.sort((a, b) => a[1] - b[1]).forEach(([name, v], k) => {
    svg.append(s('line', { x1: x(v), x2: x(v), y1: top - 4, y2: height, class: 'mark mark-' + name }),
      x(v) > width - 70
        ? s('text', { x: x(v) - 3, y: height - 2 - (k % 2) * 11, class: 'mark-label mark-' + name, 'text-anchor': 'end' }, name)
        : s('text', { x: x(v) + 3, y: height - 2 - (k % 2) * 11, class: 'mark-label mark-' + name }, name));
  });
  return svg;
}
