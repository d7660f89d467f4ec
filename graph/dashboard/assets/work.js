// Work: my inbox (my tasks and the unassigned ones I may claim) and the
// queues. A task is claimed, released, and completed with its form (the
// fields completeTask's output must fill). The inbox feed refreshes it.

import { h, fill, badge, when, table, debounce, errorText, section } from './ui.js';

const TASK = `id name status jeopardy queue assignee readyAt dueAt instructions
  fields { name type required pattern values }
  order { id externalId accountId }`;

const INBOX = `query Inbox($where: MyTasksWhere) {
  myTasks(where: $where, first: 30) { totalCount edges { node { ${TASK} } } }
}`;

const QUEUES = `{ queues { name declared strategy roles open unassigned atRisk late members { name available load } } }`;

const FEED = `subscription Inbox($after: String) { myTasksChanged(after: $after) { cursor kind } }`;

const CLAIM = `mutation($id: ID!) { claimTask(stepId: $id) { ${TASK} } }`;
const RELEASE = `mutation($id: ID!) { releaseTask(stepId: $id) { ${TASK} } }`;
const COMPLETE = `mutation($id: ID!, $output: JSON, $note: String) { completeTask(stepId: $id, output: $output, note: $note) { id status } }`;

// fieldInput makes the form control for a task field.
function fieldInput(f) {
  const name = 'field-' + f.name;
  if (f.type === 'boolean') return h('input', { type: 'checkbox', name });
  if (f.type === 'enum') return h('select', { name, required: f.required }, h('option', { value: '' }, ''), f.values.map((v) => h('option', { value: v }, v)));
  if (f.type === 'number') return h('input', { type: 'number', step: 'any', name, required: f.required });
  if (f.type === 'date') return h('input', { type: 'date', name, required: f.required });
  return h('input', { type: 'text', name, required: f.required, pattern: f.pattern || null });
}

// output reads the form's values into completeTask's output.
function output(form, fields) {
  const out = {};
  for (const f of fields) {
    const el = form.elements['field-' + f.name];
    if (f.type === 'boolean') out[f.name] = el.checked;
    else if (el.value === '') continue;
    else if (f.type === 'number') out[f.name] = Number(el.value);
    else out[f.name] = el.value;
  }
  return out;
}

export function render(app, el) {
  const f = { queue: '', assigned: '' };
  const msg = h('p', { class: 'error', hidden: true });
  const inbox = h('div', {});
  const queues = h('div', {});
  const queueSelect = h('select', { name: 'queue', onchange: (ev) => { f.queue = ev.target.value; load(); } }, h('option', { value: '' }, 'every queue'));
  let open = null; // the task whose form is open
  const me = app.me.name;
  const manage = app.can('task:manage');
  const work = app.can('task:work') || manage;

  const fail = (err) => { msg.textContent = errorText(err); msg.hidden = false; };

  async function act(query, vars) {
    try {
      await app.client.query(query, vars);
      msg.hidden = true;
    } catch (err) {
      fail(err);
    }
    load();
  }

  function form(t) {
    const formEl = h('form', {
      class: 'task-form', dataset: { stepId: t.id },
      onsubmit: (ev) => {
        ev.preventDefault();
        const out = output(formEl, t.fields);
        open = null;
        act(COMPLETE, { id: t.id, output: t.fields.length ? out : null, note: formEl.elements.note.value || null });
      },
    },
    t.instructions ? h('p', { class: 'instructions' }, t.instructions) : null,
    t.fields.map((fd) => h('label', {}, `${fd.name}${fd.required ? ' *' : ''} `, fieldInput(fd))),
    h('label', {}, 'Note ', h('input', { type: 'text', name: 'note', size: 40 })),
    h('button', { type: 'submit', class: 'primary' }, 'Complete'),
    h('button', { type: 'button', onclick: () => { open = null; load(); } }, 'Cancel'));
    return formEl;
  }

  function actions(t) {
    if (!work) return '';
    const mine = t.assignee === me;
    return h('span', { class: 'actions' },
      !t.assignee ? h('button', { class: 'claim', onclick: () => act(CLAIM, { id: t.id }) }, 'Claim') : null,
      mine || (t.assignee && manage) ? h('button', { class: 'release', onclick: () => act(RELEASE, { id: t.id }) }, 'Release') : null,
      (!t.assignee || mine || manage) && t.status === 'WAITING'
        ? h('button', { class: 'complete', onclick: () => { open = t.id; load(); } }, 'Complete…') : null);
  }

  let seq = 0;
  let shown = '';
  async function load() {
    const mine = ++seq;
    try {
      const where = {};
      if (f.queue) where.queue = f.queue;
      if (f.assigned) where.assigned = f.assigned === 'mine';
      const [tasks, qs] = await Promise.all([app.client.query(INBOX, { where }), app.client.query(QUEUES)]);
      if (mine !== seq) return;
      el.dataset.ready = '1';
      const key = JSON.stringify([tasks, qs, open]);
      if (key === shown) return; // unchanged: leave the table under the pointer alone
      shown = key;
      const rows = tasks.myTasks.edges.map((e) => e.node);
      fill(inbox, rows.length === 0 ? h('p', { class: 'empty' }, 'Nothing to do.') : table([
        ['Task', (t) => t.name],
        ['Order', (t) => (t.order ? h('a', { href: '#/orders/' + encodeURIComponent(t.order.id) }, t.order.externalId) : '')],
        ['Queue', (t) => t.queue || ''],
        ['Status', (t) => badge(t.status)],
        ['Jeopardy', (t) => badge(t.jeopardy, 'jp')],
        ['Assignee', (t) => t.assignee || 'unassigned'],
        ['Ready', (t) => when(t.readyAt)],
        ['Due', (t) => when(t.dueAt)],
        ['', (t) => (open === t.id ? form(t) : actions(t))],
      ], rows, (t) => ({ dataset: { stepId: t.id, name: t.name, status: t.status } })));
      const current = queueSelect.value;
      fill(queueSelect, h('option', { value: '' }, 'every queue'), qs.queues.map((q) => h('option', { value: q.name, selected: q.name === current }, q.name)));
      fill(queues, qs.queues.length === 0 ? h('p', { class: 'empty' }, 'No queues.') : table([
        ['Queue', (q) => q.name],
        ['Kind', (q) => (q.declared ? `declared, ${q.strategy}` : 'open to task:work')],
        ['Open', (q) => q.open], ['Unassigned', (q) => q.unassigned],
        ['At risk', (q) => (q.atRisk ? h('span', { class: 'badge jp-AT_RISK' }, q.atRisk) : 0)],
        ['Late', (q) => (q.late ? h('span', { class: 'badge jp-LATE' }, q.late) : 0)],
        ['Members', (q) => q.members.map((m) => `${m.name}${m.available ? '' : ' (away)'}: ${m.load}`).join(', ')],
      ], qs.queues, (q) => ({ dataset: { queue: q.name } })));
    } catch (err) {
      fail(err);
    }
    el.dataset.ready = '1';
  }
  const reload = debounce(() => { if (!open) load(); }, 250);

  el.append(
    h('div', { class: 'toolbar' }, h('h1', {}, 'Work'),
      h('label', {}, 'Queue ', queueSelect),
      h('label', {}, 'Show ', h('select', { name: 'assigned', onchange: (ev) => { f.assigned = ev.target.value; load(); } },
        h('option', { value: '' }, 'mine and claimable'), h('option', { value: 'mine' }, 'mine'), h('option', { value: 'free' }, 'claimable')))),
    msg,
    section(`Inbox of ${me}`, inbox),
    section('Queues', queues));
  load();
  const stop = app.client.subscribe(FEED, {}, reload);
  return () => { stop(); reload.cancel(); };
}
