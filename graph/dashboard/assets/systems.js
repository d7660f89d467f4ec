// Systems: each external system's status, its held callouts and its
// circuit; hold (OFFLINE) and release (ONLINE) for those who may
// (system:manage). The feed's system, circuit and hold changes refresh it.

import { h, fill, badge, when, table, debounce, errorText } from './ui.js';

// A system gets its row when something changes it (a hold, a failure): the
// catalog's others are ONLINE with a closed circuit.
const SYSTEMS = `{
  catalog { summary { systems } }
  systems(first: 100) { edges { node { id name status consecutiveFailures circuitOpenUntil changedBy updatedAt heldSteps circuit } } }
}`;

const FEED = `subscription SystemsFeed($after: String) {
  events(kinds: [SYSTEM_STATUS, CIRCUIT_STATE, STEP_STATUS], after: $after) { cursor kind from to }
}`;

const SET = `mutation($system: String!, $status: SystemStatus!, $note: String) {
  setSystemStatus(system: $system, status: $status, note: $note) { name status }
}`;

export function render(app, el) {
  const msg = h('p', { class: 'error', hidden: true });
  const list = h('div', {});
  const note = h('input', { type: 'text', name: 'note', placeholder: 'note (optional)', size: 36 });
  const manage = app.can('system:manage');

  async function set(system, status) {
    try {
      await app.client.query(SET, { system, status, note: note.value.trim() || null });
      msg.hidden = true;
    } catch (err) {
      msg.textContent = errorText(err);
      msg.hidden = false;
    }
    load();
  }

  let seq = 0;
  let shown = '';
  async function load() {
    const mine = ++seq;
    try {
      const data = await app.client.query(SYSTEMS);
      if (mine !== seq) return;
      // Draw again only what changed: a table drawn anew under the pointer loses the click.
      const key = JSON.stringify(data);
      el.dataset.ready = '1';
      if (key === shown) return;
      shown = key;
      const stored = new Map(data.systems.edges.map((e) => [e.node.name, e.node]));
      const names = new Set([...((data.catalog && data.catalog.summary.systems) || []), ...stored.keys()]);
      const rows = [...names].sort().map((name) => stored.get(name) ||
        { name, status: 'ONLINE', circuit: 'CLOSED', heldSteps: 0, consecutiveFailures: 0 });
      fill(list, rows.length === 0 ? h('p', { class: 'empty' }, 'No systems: import a catalog.') : table([
        ['System', (x) => x.name],
        ['Status', (x) => badge(x.status, 'sys')],
        ['Circuit', (x) => badge(x.circuit, 'cb')],
        ['Held callouts', (x) => x.heldSteps],
        ['Failures in a row', (x) => x.consecutiveFailures],
        ['Open until', (x) => when(x.circuitOpenUntil)],
        ['Changed by', (x) => x.changedBy || ''],
        ['Updated', (x) => when(x.updatedAt)],
        ['', (x) => (manage ? (x.status === 'ONLINE'
          ? h('button', { class: 'hold', onclick: () => set(x.name, 'OFFLINE') }, 'Hold')
          : h('button', { class: 'release primary', onclick: () => set(x.name, 'ONLINE') }, 'Release')) : '')],
      ], rows, (x) => ({ dataset: { system: x.name, status: x.status, circuit: x.circuit } })));
      msg.hidden = true;
    } catch (err) {
      msg.textContent = errorText(err);
      msg.hidden = false;
    }
    el.dataset.ready = '1';
  }
  const reload = debounce(load, 300);

  el.append(
    h('div', { class: 'toolbar' }, h('h1', {}, 'Systems'), manage ? h('label', {}, 'Note ', note) : h('span', { class: 'hint' }, 'Holding and releasing needs system:manage.')),
    h('p', { class: 'hint' }, 'Hold: callouts to the system wait ON_HOLD, spending no attempt. Release: they go at the system’s release rate, and its circuit closes.'),
    msg, list);
  load();
  const stop = app.client.subscribe(FEED, {}, (ev) => {
    if (ev.kind !== 'STEP_STATUS' || ev.from === 'ON_HOLD' || ev.to === 'ON_HOLD') reload();
  });
  return () => { stop(); reload.cancel(); };
}
