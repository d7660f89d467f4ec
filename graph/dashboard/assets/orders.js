// Orders: a live list with status, jeopardy and fallout filters and search
// by external id. Any change on the feed refreshes the list (at most a few
// times a second), so it always shows what the filters select. With
// order:submit it links to a new order; an empty server whose catalog is
// the example one offers the README's example order.

import { h, fill, badge, when, table, debounce, errorText } from './ui.js';
import { EXAMPLE_PRODUCT } from './neworder.js';

const STATUSES = ['SUBMITTED', 'AWAITING_APPROVAL', 'IN_PROGRESS', 'CANCELLING', 'COMPLETED', 'CANCELLED', 'REJECTED'];
const JEOPARDY_RANK = { ON_TRACK: 0, AT_RISK: 1, LATE: 2 };

const OPEN_STEP = ['PENDING', 'SCHEDULED', 'READY', 'RUNNING', 'WAITING', 'FAILED', 'FALLOUT', 'ON_HOLD'];

const ORDERS = `query Orders($where: OrderWhereInput, $first: Int) {
  orders(where: $where, first: $first, orderBy: {field: CREATED_AT, direction: DESC}) {
    totalCount
    edges { node { id externalId accountId status jeopardy falloutCount revision createdAt updatedAt completedAt plan { status jeopardy jeopardyReason } } }
  }
}`;

const CATALOG = `{ catalog { summary { products } } }`;

const FEED = `subscription OrdersFeed($after: String) {
  events(kinds: [ORDER_STATUS, PLAN_STATUS, STEP_STATUS, JEOPARDY, ORDER_AMENDED], after: $after) { cursor kind orderId }
}`;

export function where(f) {
  const and = [];
  if (f.status) and.push({ status: f.status });
  if (f.search) and.push({ externalIDContainsFold: f.search });
  if (f.jeopardy) and.push({ hasPlanWith: [{ hasStepsWith: [{ jeopardy: f.jeopardy, statusIn: OPEN_STEP }] }] });
  if (f.fallout) and.push({ hasPlanWith: [{ hasStepsWith: [{ status: 'FALLOUT' }] }] });
  if (and.length === 0) return null;
  return and.length === 1 ? and[0] : { and };
}

export function render(app, el) {
  const f = { status: '', jeopardy: '', fallout: false, search: '' };
  const list = h('div', { class: 'list' });
  const count = h('span', { class: 'count' });
  const msg = h('p', { class: 'error', hidden: true });
  let seq = 0;
  let shown = '';
  const submit = app.can('order:submit');
  // Whether the current catalog has the example product (read once).
  const exampleCatalog = submit && app.can('catalog:read')
    ? app.client.query(CATALOG).then((d) => !!d.catalog && d.catalog.summary.products.includes(EXAMPLE_PRODUCT), () => false)
    : Promise.resolve(false);

  function empty(example) {
    if (!example) return h('p', { class: 'empty' }, 'No orders match.');
    return h('div', { class: 'empty-server' },
      h('p', { class: 'empty' }, 'No orders yet. The catalog is the example one: submit the example order of the README and watch its plan flow.'),
      h('button', { type: 'button', class: 'primary', id: 'example-order', onclick: () => { location.hash = '#/orders/new/example'; } }, 'Submit the example order'));
  }

  async function load() {
    const mine = ++seq;
    try {
      const [data, example] = await Promise.all([app.client.query(ORDERS, { where: where(f), first: 100 }), exampleCatalog]);
      if (mine !== seq) return;
      el.dataset.ready = '1';
      msg.hidden = true;
      const key = JSON.stringify(data);
      if (key === shown) return; // unchanged: leave the table under the pointer alone
      shown = key;
      const orders = data.orders.edges.map((e) => e.node);
      count.textContent = `${data.orders.totalCount} order${data.orders.totalCount === 1 ? '' : 's'}`;
      fill(list, orders.length === 0 ? empty(example && where(f) === null && data.orders.totalCount === 0) : table([
        ['Order', (o) => h('a', { href: '#/orders/' + encodeURIComponent(o.id), class: 'order-link' }, o.externalId)],
        ['Account', (o) => o.accountId],
        ['Status', (o) => badge(o.status)],
        // The worse of the steps' jeopardy and the plan's, which also
        // counts the forecast against the requested completion.
        ['Jeopardy', (o) => {
          const plan = o.plan && JEOPARDY_RANK[o.plan.jeopardy] > JEOPARDY_RANK[o.jeopardy] ? o.plan : null;
          const b = badge(plan ? plan.jeopardy : o.jeopardy, 'jp');
          if (plan && plan.jeopardyReason) b.title = plan.jeopardyReason;
          return b;
        }],
        ['Fallout', (o) => (o.falloutCount ? h('span', { class: 'badge st-FALLOUT' }, o.falloutCount) : '')],
        ['Revision', (o) => o.revision || ''],
        ['Submitted', (o) => when(o.createdAt)],
        ['Updated', (o) => when(o.updatedAt)],
      ], orders, (o) => ({ dataset: { orderId: o.id, status: o.status } })));
      msg.hidden = true;
    } catch (err) {
      msg.textContent = errorText(err);
      msg.hidden = false;
    }
    el.dataset.ready = '1';
  }
  const reload = debounce(load, 250);

  const select = (values, key, any) => h('select', { onchange: (ev) => { f[key] = ev.target.value; load(); }, name: key },
    h('option', { value: '' }, any), values.map((v) => h('option', { value: v }, v)));
  const search = h('input', { type: 'search', name: 'search', placeholder: 'external id', oninput: debounce(() => { f.search = search.value.trim(); load(); }, 200) });

  el.append(
    h('div', { class: 'toolbar' },
      h('h1', {}, 'Orders'), count,
      submit ? h('a', { href: '#/orders/new', class: 'new-order-link' }, 'New order') : null,
      h('label', {}, 'Search ', search),
      h('label', {}, 'Status ', select(STATUSES, 'status', 'any')),
      h('label', { title: 'open steps at risk or late' }, 'Step jeopardy ', select(['AT_RISK', 'LATE'], 'jeopardy', 'any')),
      h('label', {}, h('input', { type: 'checkbox', name: 'fallout', onchange: (ev) => { f.fallout = ev.target.checked; load(); } }), ' with fallout'),
    ),
    msg, list);
  load();
  const stop = app.client.subscribe(FEED, {}, reload);
  return () => { stop(); reload.cancel(); };
}
