// Fallout: the steps whose retries are spent, with filters; select many and
// retry them (retrySteps, one request for all), mark them complete or skip
// them (one request per step: the API has no bulk form of those). Each
// step's result stays listed, its status following the feed.

import { h, fill, badge, when, table, debounce, errorText, section } from './ui.js';

const STEP = `id name type status system error attemptCount updatedAt order { id externalId accountId }`;

const FALLOUT = `query Fallout($where: StepWhereInput) {
  steps(where: $where, first: 100) { totalCount edges { node { ${STEP} } } }
}`;

const SYSTEMS = `{ catalog { summary { systems } } }`;

const FEED = `subscription FalloutFeed($after: String) {
  stepStatusChanged(kinds: [STEP_STATUS], after: $after) { cursor from to step { id name status } }
}`;

const RETRY = `mutation($ids: [ID!]!, $note: String) { retrySteps(ids: $ids, note: $note) { id status } }`;
const COMPLETE = `mutation($id: ID!, $note: String!) { markStepComplete(stepId: $id, note: $note) { id status } }`;
const SKIP = `mutation($id: ID!, $note: String!) { skipStep(stepId: $id, note: $note) { id status } }`;

export function where(f) {
  const w = { status: 'FALLOUT' };
  if (f.system) w.system = f.system;
  if (f.error) w.errorContainsFold = f.error;
  if (f.name) w.nameContainsFold = f.name;
  if (f.order) w.hasOrderWith = [{ externalIDContainsFold: f.order }];
  return w;
}

export function render(app, el) {
  const f = { system: '', error: '', name: '', order: '' };
  const selected = new Set();
  const results = new Map(); // step id -> {step, action, ok, message, status}
  let rows = [];
  const msg = h('p', { class: 'error', hidden: true });
  const list = h('div', {});
  const resultBox = h('div', { class: 'results' });
  const count = h('span', { class: 'count' });
  const note = h('input', { type: 'text', name: 'note', placeholder: 'note (needed to complete or skip)', size: 36 });
  const canRetry = app.can('fallout:retry');
  const canResolve = app.can('fallout:resolve');
  const buttons = [];

  function refreshButtons() {
    for (const b of buttons) b.disabled = selected.size === 0;
  }

  function drawResults() {
    const rs = [...results.values()];
    fill(resultBox, rs.length === 0 ? h('p', { class: 'empty' }, 'Select steps and act on them: each one’s result shows here.') : table([
      ['Step', (r) => r.step.name],
      ['Order', (r) => (r.step.order ? h('a', { href: '#/orders/' + encodeURIComponent(r.step.order.id) }, r.step.order.externalId) : '')],
      ['Action', (r) => r.action],
      ['Result', (r) => (r.ok ? 'done' : h('span', { class: 'error' }, r.message))],
      ['Status now', (r) => badge(r.status)],
    ], rs, (r) => ({ class: 'result', dataset: { stepId: r.step.id, ok: String(r.ok), status: r.status } })));
  }

  function drawList() {
    count.textContent = `${rows.length} step${rows.length === 1 ? '' : 's'} in fallout`;
    for (const id of [...selected]) if (!rows.some((r) => r.id === id)) selected.delete(id);
    const all = h('input', {
      type: 'checkbox', name: 'all', title: 'select all', checked: rows.length > 0 && selected.size === rows.length,
      onchange: (ev) => { rows.forEach((r) => (ev.target.checked ? selected.add(r.id) : selected.delete(r.id))); drawList(); },
    });
    fill(list, rows.length === 0 ? h('p', { class: 'empty' }, 'No step is in fallout.') : h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, all), ['Order', 'Account', 'Step', 'Type', 'System', 'Attempts', 'Error', 'Since'].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows.map((st) => h('tr', { dataset: { stepId: st.id, name: st.name } },
        h('td', {}, h('input', {
          type: 'checkbox', name: 'step', value: st.id, checked: selected.has(st.id),
          onchange: (ev) => { ev.target.checked ? selected.add(st.id) : selected.delete(st.id); all.checked = selected.size === rows.length; refreshButtons(); },
        })),
        h('td', {}, st.order ? h('a', { href: '#/orders/' + encodeURIComponent(st.order.id) }, st.order.externalId) : ''),
        h('td', {}, st.order ? st.order.accountId : ''),
        h('td', {}, st.name), h('td', {}, st.type), h('td', {}, st.system || ''), h('td', {}, st.attemptCount),
        h('td', { class: 'error-text' }, st.error || ''), h('td', {}, when(st.updatedAt)))))));
    refreshButtons();
  }

  let seq = 0;
  let shown = '';
  async function load() {
    const mine = ++seq;
    try {
      const data = await app.client.query(FALLOUT, { where: where(f) });
      if (mine !== seq) return;
      el.dataset.ready = '1';
      msg.hidden = true;
      const key = JSON.stringify(data);
      if (key === shown) return; // unchanged: leave the list under the pointer alone
      shown = key;
      rows = data.steps.edges.map((e) => e.node);
      msg.hidden = true;
      drawList();
    } catch (err) {
      msg.textContent = errorText(err);
      msg.hidden = false;
    }
    el.dataset.ready = '1';
  }
  const reload = debounce(load, 300);

  // The feed may bring a step's later statuses before the mutation's answer
  // arrives: what it says since the action started wins over the answer.
  const inflight = new Map(); // step id -> status on the feed, or null

  function record(step, action, ok, message, status) {
    results.delete(step.id); // newest last
    results.set(step.id, { step, action, ok, message, status: inflight.get(step.id) || status });
    inflight.delete(step.id);
  }

  async function act(action) {
    const steps = rows.filter((r) => selected.has(r.id));
    if (steps.length === 0) return;
    const text = note.value.trim();
    if (action !== 'retry' && !text) {
      msg.textContent = 'Completing or skipping by hand needs a note saying why.';
      msg.hidden = false;
      note.focus();
      return;
    }
    msg.hidden = true;
    steps.forEach((st) => inflight.set(st.id, null));
    if (action === 'retry') {
      // One request for them all; errors name the index of each step not retried.
      try {
        const { data, errors } = await app.client.request(RETRY, { ids: steps.map((s) => s.id), note: text || null });
        const byIndex = new Map(errors.filter((e) => e.path && e.path[0] === 'retrySteps').map((e) => [e.path[1], e]));
        steps.forEach((st, i) => {
          const e = byIndex.get(i);
          const now = data.retrySteps && data.retrySteps[i];
          record(st, 'retry', !e, e ? `${e.message} (${(e.extensions && e.extensions.code) || ''})` : '', now ? now.status : st.status);
        });
      } catch (err) {
        steps.forEach((st) => record(st, 'retry', false, errorText(err), st.status));
      }
    } else {
      const query = action === 'complete' ? COMPLETE : SKIP;
      const field = action === 'complete' ? 'markStepComplete' : 'skipStep';
      await Promise.all(steps.map(async (st) => {
        try {
          const data = await app.client.query(query, { id: st.id, note: text });
          record(st, action, true, '', data[field].status);
        } catch (err) {
          record(st, action, false, errorText(err), st.status);
        }
      }));
    }
    steps.forEach((st) => selected.delete(st.id));
    drawResults();
    load();
  }

  function onEvent(ev) {
    if (ev.step && inflight.has(ev.step.id)) inflight.set(ev.step.id, ev.step.status);
    const r = ev.step && results.get(ev.step.id);
    if (r) {
      r.status = ev.step.status;
      drawResults();
    }
    if (ev.to === 'FALLOUT' || ev.from === 'FALLOUT') reload();
  }

  const input = (key, placeholder) => h('input', { type: 'search', name: key, placeholder, oninput: debounce((ev) => { f[key] = ev.target.value.trim(); load(); }, 200) });
  const systemSelect = h('select', { name: 'system', onchange: (ev) => { f.system = ev.target.value; load(); } }, h('option', { value: '' }, 'any'));
  const mk = (label, action, cls) => {
    const b = h('button', { class: cls, disabled: true, onclick: () => act(action) }, label);
    buttons.push(b);
    return b;
  };
  el.append(
    h('div', { class: 'toolbar' }, h('h1', {}, 'Fallout'), count,
      h('label', {}, 'System ', systemSelect),
      h('label', {}, 'Error ', input('error', 'contains')),
      h('label', {}, 'Step ', input('name', 'name contains')),
      h('label', {}, 'Order ', input('order', 'external id'))),
    h('div', { class: 'toolbar actions' },
      canRetry ? mk('Retry selected', 'retry', 'primary retry') : null,
      canResolve ? [note, mk('Mark complete', 'complete', 'complete'), mk('Skip', 'skip', 'skip')] : null,
      !canRetry && !canResolve ? h('span', { class: 'hint' }, 'Your roles may look, not act (fallout:retry, fallout:resolve).') : null),
    msg, list, section('Results', resultBox));
  drawResults();
  load();
  if (app.can('catalog:read')) {
    app.client.query(SYSTEMS).then((d) => systemSelect.append(...((d.catalog && d.catalog.summary.systems) || []).map((n) => h('option', { value: n }, n))), () => {});
  }
  const stop = app.client.subscribe(FEED, {}, onEvent);
  return () => { stop(); reload.cancel(); };
}
