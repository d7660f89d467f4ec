// Analytics: the charts of the analytics query (README "Analytics") for the
// last 7, 30 or 90 UTC days, by day or by week, grouped by nothing, product,
// scenario, queue or system: orders completed (stacked by group), cycle
// time p50/p90, fallout and automation rate, steps finished at risk or
// late; and tables of each step definition's durations and each system's
// error rate. The range ends at the next UTC midnight, so that by DAY every
// bucket is a whole day. The page reads the numbers again a few seconds
// after the feed reports that something finished.

import { h, fill, table, duration, errorText, section } from './ui.js';
import { barChart, lineChart, legend } from './charts.js';

const ANALYTICS = `query Analytics($from: Time!, $to: Time!, $bucket: AnalyticsBucket!, $groupBy: AnalyticsGroupBy) {
  analytics(from: $from, to: $to, bucket: $bucket, groupBy: $groupBy) {
    from to bucket groupBy
    series { start group ordersCompleted cycleTimeP50 cycleTimeP90 ordersFellOut falloutRate
      stepsFinished stepsAutomated automationRate atRisk late }
    stepDefinitions { definition type completed durationP50 durationP90 }
    systems { system requests errors errorRate }
  }
}`;

// What finishes is an order's or a step's status change: the page is read
// again at most every few seconds while they come.
const FEED = `subscription AnalyticsFeed($after: String) {
  events(kinds: [ORDER_STATUS, STEP_STATUS], after: $after) { cursor kind to }
}`;
const FINISHED = new Set(['COMPLETED', 'SKIPPED', 'FALLOUT', 'FAILED']);
const REFRESH = 5000;

const RANGES = [7, 30, 90];
const GROUPS = [['', 'nothing'], ['PRODUCT', 'product'], ['SCENARIO', 'scenario'], ['QUEUE', 'queue'], ['SYSTEM', 'system']];
const COLOURS = 8;

// The choice outlives the page, for the tab's life.
const state = { days: 30, bucket: 'DAY', groupBy: '' };

// range returns [from, to): to is the next UTC midnight, from days before.
export function range(days, now = Date.now()) {
  const d = new Date(now);
  const to = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
  return [new Date(to - days * 86400000).toISOString(), new Date(to).toISOString()];
}

const secs = (v) => (v === null || v === undefined ? '' : duration(v * 1000));
const pct = (v) => (v === null || v === undefined ? '' : `${Math.round(v * 1000) / 10}%`);

export function render(app, el) {
  const msg = h('p', { class: 'error', hidden: true });
  const body = h('div', {});
  const rangeText = h('span', { class: 'meta', id: 'analytics-range' });
  const select = (name, options, value, onchange) => h('select', { name, onchange: (ev) => onchange(ev.target.value) },
    options.map(([v, text]) => h('option', { value: String(v), selected: String(v) === String(value) }, text)));
  const controls = h('div', { class: 'toolbar' }, h('h1', {}, 'Analytics'),
    h('label', {}, 'Range ', select('range', RANGES.map((d) => [d, `last ${d} days`]), state.days, (v) => { state.days = Number(v); load(); })),
    h('label', {}, 'By ', select('bucket', [['DAY', 'day'], ['WEEK', 'week']], state.bucket, (v) => { state.bucket = v; load(); })),
    h('label', {}, 'Grouped by ', select('groupBy', GROUPS, state.groupBy, (v) => { state.groupBy = v; load(); })),
    h('button', { type: 'button', class: 'refresh', onclick: () => load() }, 'Refresh'),
    rangeText);
  el.append(controls, msg, body);

  function draw(a) {
    const grouped = !!a.groupBy;
    const buckets = [...new Set(a.series.map((p) => p.start))];
    // Groups in the series' order (null first, then by name).
    const groups = [...new Set(a.series.map((p) => p.group))];
    const name = (g) => (g === null ? (grouped ? '(none)' : 'all') : g);
    const cls = (i) => 'c' + (i % COLOURS);
    const values = (g, field) => new Map(a.series.filter((p) => p.group === g).map((p) => [p.start, p[field]]));
    const label = (start) => (a.bucket === 'WEEK' ? 'wk ' : '') + start.slice(5, 10);
    const sum = (field) => new Map(buckets.map((b) => [b, a.series.filter((p) => p.start === b).reduce((n, p) => n + p[field], 0)]));
    const groupLegend = () => (grouped ? legend(groups.map((g, i) => ({ label: name(g), cls: cls(i) }))) : null);
    const perGroup = (field, extra = {}) => groups.map((g, i) => ({ label: name(g), cls: cls(i), values: values(g, field), ...extra }));
    const total = a.series.reduce((n, p) => n + p.ordersCompleted, 0);
    const sumNote = () => (grouped ? h('p', { class: 'hint' }, 'Summed over the groups: what belongs to several (an order of several products) counts in each.') : null);

    fill(body,
      h('div', { class: 'charts' },
        section('Orders completed',
          h('p', { class: 'hint' }, `${total} in the range`, grouped ? ', stacked by ' + a.groupBy.toLowerCase() : ''),
          barChart({ name: 'orders', title: 'orders completed per ' + a.bucket.toLowerCase(), buckets, label,
            layers: grouped ? perGroup('ordersCompleted') : [{ label: 'orders', cls: 'c0', values: values(null, 'ordersCompleted') }] }),
          groupLegend(), sumNote()),
        section('Cycle time',
          h('p', { class: 'hint' }, 'Submission to completion: p50 solid, p90 dashed.'),
          lineChart({ name: 'cycle', title: 'cycle time p50 and p90', buckets, label, format: (v) => (v ? duration(v * 1000) : '0'),
            lines: [...perGroup('cycleTimeP50'), ...perGroup('cycleTimeP90', { dashed: true })].map((l) => (l.dashed ? { ...l, label: l.label + ' p90' } : { ...l, label: l.label + ' p50' })) }),
          groupLegend()),
        section('Fallout rate',
          h('p', { class: 'hint' }, 'Completed orders of which a step went to fallout.'),
          lineChart({ name: 'fallout', title: 'fallout rate', buckets, label, format: pct, max: 1, lines: perGroup('falloutRate') }),
          groupLegend()),
        section('Automation rate',
          h('p', { class: 'hint' }, 'Finished steps completed with no person.'),
          lineChart({ name: 'automation', title: 'automation rate', buckets, label, format: pct, max: 1, lines: perGroup('automationRate') }),
          groupLegend()),
        section('At risk and late',
          h('p', { class: 'hint' }, 'Steps that finished at risk or late.'),
          barChart({ name: 'jeopardy', title: 'steps finished at risk or late', buckets, label, layers: [
            { label: 'at risk', cls: 'risk', values: sum('atRisk') }, { label: 'late', cls: 'late', values: sum('late') }] }),
          legend([{ label: 'at risk', cls: 'risk' }, { label: 'late', cls: 'late' }]), sumNote())),
      h('div', { class: 'columns' },
        section('Step definitions', a.stepDefinitions.length === 0 ? h('p', { class: 'empty' }, 'No step completed in the range.') : table([
          ['Definition', (d) => d.definition], ['Type', (d) => d.type], ['Completed', (d) => d.completed],
          ['p50', (d) => secs(d.durationP50)], ['p90', (d) => secs(d.durationP90)],
        ], a.stepDefinitions, (d) => ({ dataset: { definition: d.definition }, class: 'definition' }))),
        section('Systems', a.systems.length === 0 ? h('p', { class: 'empty' }, 'No callout finished in the range.') : table([
          ['System', (x) => x.system], ['Requests', (x) => x.requests], ['Errors', (x) => x.errors], ['Error rate', (x) => pct(x.errorRate)],
        ], a.systems, (x) => ({ dataset: { system: x.system }, class: 'system' })))),
    );
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    const [from, to] = range(state.days);
    el.dataset.from = from;
    el.dataset.to = to;
    el.dataset.bucket = state.bucket;
    el.dataset.groupBy = state.groupBy;
    delete el.dataset.ready;
    rangeText.textContent = `${from.slice(0, 10)} to ${to.slice(0, 10)} (UTC, end excluded)`;
    try {
      const data = await app.client.query(ANALYTICS, { from, to, bucket: state.bucket, groupBy: state.groupBy || null });
      if (mine !== seq) return;
      msg.hidden = true;
      draw(data.analytics);
    } catch (err) {
      if (mine !== seq) return;
      msg.textContent = errorText(err);
      msg.hidden = false;
      fill(body);
    }
    el.dataset.ready = '1';
  }

  // A refresh waits REFRESH ms after the first change, however many follow.
  let timer = null;
  const onEvent = (ev) => {
    if (timer || !FINISHED.has(ev.to)) return;
    timer = setTimeout(() => { timer = null; load(); }, REFRESH);
  };

  load();
  const stop = app.client.subscribe(FEED, {}, onEvent);
  return () => { seq++; clearTimeout(timer); stop(); };
}
