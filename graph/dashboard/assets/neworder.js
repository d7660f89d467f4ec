// New order (#/orders/new; #/orders/new/example fills in the README's
// example): a form for SubmitOrderInput — external id, account, requested
// completion, order attributes and lines (product from the current
// catalog, quantity, parent line, attributes). "Preview" runs previewOrder
// and shows what would be created, or the server's errors (each message,
// extensions.code and extensions.problems); "Submit" runs submitOrder and
// opens the new order, whose plan then flows live.

import { h, fill, badge, table, errorText, section } from './ui.js';

const CATALOG = `{ catalog { version summary { products } } }`;

const PREVIEW = `query Preview($in: SubmitOrderInput!) {
  previewOrder(input: $in) {
    attributes
    lines { id productCode quantity parentId status missing generated }
    fulfillmentLines { key productCode rule scope quantity attributes existing }
    groups { name scenario }
    steps { key name group type status existing }
  }
}`;

const SUBMIT = `mutation Submit($in: SubmitOrderInput!) { submitOrder(input: $in) { id } }`;

// The example product and the example order of README "An order, end to end".
export const EXAMPLE_PRODUCT = 'PRO-SERVER-PKG';
const example = () => ({
  externalId: freshId('demo'), accountId: 'acme',
  attributes: { shipTo: '1 Main St, Springfield' },
  lines: [{ id: 'L1', productCode: EXAMPLE_PRODUCT }],
});

// freshId suggests an external id no one used: a prefix, the time, and
// random letters.
export function freshId(prefix = 'order') {
  const r = new Uint32Array(1);
  crypto.getRandomValues(r);
  return `${prefix}-${Date.now().toString(36)}-${r[0].toString(36).slice(0, 4)}`;
}

// errorList shows every error of a failed request: message, code, and each
// problem with its path.
export function errorList(err) {
  const errors = (err && err.errors && err.errors.length) ? err.errors : [{ message: errorText(err), extensions: { code: err && err.code } }];
  return h('ul', { class: 'errors' }, errors.map((e) => {
    const ext = e.extensions || {};
    return h('li', { class: 'error', dataset: { code: ext.code || '' } },
      e.message, ext.code ? [' ', h('code', {}, ext.code)] : null,
      Array.isArray(ext.problems) && ext.problems.length ? h('ul', { class: 'problems' },
        ext.problems.map((p) => h('li', { dataset: { path: p.path } }, h('code', {}, p.path), ' ', p.message))) : null);
  }));
}

const json = (v) => (v === null || v === undefined ? '' : JSON.stringify(v));

export function render(app, el, { example: wantExample }) {
  let products = null; // the current catalog's product codes, when readable
  const msg = h('div', { class: 'result', hidden: true });
  const result = h('div', { class: 'result' });
  const lines = h('tbody', {});
  const productList = h('datalist', { id: 'product-codes' });
  const f = {
    externalId: h('input', { name: 'externalId', size: 32, required: true, value: freshId() }),
    accountId: h('input', { name: 'accountId', size: 20, required: true, value: (app.me.accounts && app.me.accounts[0]) || '' }),
    requestedCompletion: h('input', { name: 'requestedCompletion', type: 'datetime-local', step: 1 }),
    attributes: h('textarea', { name: 'attributes', rows: 2, cols: 60, placeholder: '{"shipTo": "1 Main St, Springfield"}' }),
  };
  const exampleButton = h('button', { type: 'button', id: 'fill-example', hidden: true, onclick: () => fillForm(example()) }, 'Fill in the example order');

  function lineRow(l = {}) {
    const n = lines.children.length + 1;
    const tr = h('tr', { class: 'line' },
      h('td', {}, h('input', { name: 'lineId', size: 6, required: true, value: l.id || `L${n}` })),
      h('td', {}, h('input', { name: 'productCode', size: 18, required: true, list: 'product-codes', value: l.productCode || '', placeholder: 'product code' })),
      h('td', {}, h('input', { name: 'quantity', type: 'number', size: 4, value: String(l.quantity ?? 1) })),
      h('td', {}, h('input', { name: 'parentId', size: 6, value: l.parentId || '', placeholder: 'bundle line' })),
      h('td', {}, h('input', { name: 'lineAttributes', size: 30, value: json(l.attributes), placeholder: '{"seats": 5}' })),
      h('td', {}, h('button', { type: 'button', class: 'remove-line', onclick: () => tr.remove() }, 'Remove')));
    lines.append(tr);
  }

  function fillForm(input) {
    f.externalId.value = input.externalId || freshId();
    f.accountId.value = input.accountId || '';
    f.attributes.value = json(input.attributes);
    f.requestedCompletion.value = '';
    fill(lines);
    for (const l of input.lines) lineRow(l);
    fill(result);
    msg.hidden = true;
  }

  // readObject parses a JSON object field; null when empty.
  function readObject(text, what) {
    if (text.trim() === '') return null;
    let v;
    try { v = JSON.parse(text); } catch { throw new Error(`${what} is not JSON`); }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what} must be a JSON object`);
    return v;
  }

  // input reads the form into SubmitOrderInput; the server checks it.
  function input() {
    const inp = { externalId: f.externalId.value.trim(), accountId: f.accountId.value.trim(), lines: [] };
    const attrs = readObject(f.attributes.value, 'Order attributes');
    if (attrs) inp.attributes = attrs;
    if (f.requestedCompletion.value) inp.requestedCompletion = new Date(f.requestedCompletion.value).toISOString();
    for (const tr of lines.querySelectorAll('tr.line')) {
      const v = (name) => tr.querySelector(`[name="${name}"]`).value.trim();
      const line = { id: v('lineId'), productCode: v('productCode') };
      if (v('quantity') !== '') line.quantity = Number(v('quantity'));
      if (v('parentId')) line.parentId = v('parentId');
      const la = readObject(v('lineAttributes'), `Line ${line.id}'s attributes`);
      if (la) line.attributes = la;
      inp.lines.push(line);
    }
    return inp;
  }

  function showError(err) {
    fill(msg, h('h2', {}, 'Refused'), errorList(err));
    msg.hidden = false;
    fill(result);
  }

  function showPreview(p) {
    const lanes = p.groups.map((g) => ({ ...g, steps: p.steps.filter((st) => st.group === g.name) }));
    fill(result, h('div', { class: 'preview', dataset: { steps: p.steps.length, lanes: p.groups.length } },
      h('p', {}, `Would create ${p.lines.length} line${p.lines.length === 1 ? '' : 's'}, ${p.fulfillmentLines.length} fulfillment line${p.fulfillmentLines.length === 1 ? '' : 's'} and a plan of ${p.steps.length} step${p.steps.length === 1 ? '' : 's'} in ${p.groups.length} swimlane${p.groups.length === 1 ? '' : 's'}.`),
      p.attributes ? h('p', { class: 'meta' }, 'Order attributes after enrichment: ', h('code', {}, json(p.attributes))) : null,
      section('Lines', table([
        ['Line', (l) => l.id], ['Product', (l) => l.productCode], ['Quantity', (l) => l.quantity],
        ['Parent', (l) => l.parentId || ''], ['Status', (l) => badge(l.status)],
        ['', (l) => [l.generated ? 'from the bundle' : '', l.missing.length ? ` waits for ${l.missing.join(', ')}` : '']],
      ], p.lines)),
      section('Fulfillment lines', table([
        ['Key', (l) => l.key], ['Product', (l) => l.productCode], ['Rule', (l) => l.rule], ['Scope', (l) => l.scope],
        ['Quantity', (l) => l.quantity], ['Attributes', (l) => h('code', {}, json(l.attributes))], ['', (l) => (l.existing ? 'exists' : '')],
      ], p.fulfillmentLines)),
      section('Plan', table([
        ['Swimlane', (g) => g.name], ['Scenario', (g) => g.scenario], ['Steps', (g) => g.steps.length],
        ['', (g) => g.steps.map((st, i) => [i ? ', ' : '', h('span', { class: 'step-name', dataset: { type: st.type } }, st.name)])],
      ], lanes, (g) => ({ class: 'lane-row', dataset: { lane: g.name, steps: g.steps.length } })))));
  }

  let busy = false;
  async function run(submit) {
    if (busy) return;
    let inp;
    try {
      inp = input();
    } catch (err) {
      showError(err);
      return;
    }
    busy = true;
    buttons.forEach((b) => { b.disabled = true; });
    try {
      if (submit) {
        const data = await app.client.query(SUBMIT, { in: inp });
        location.hash = '#/orders/' + encodeURIComponent(data.submitOrder.id);
        return;
      }
      const data = await app.client.query(PREVIEW, { in: inp });
      msg.hidden = true;
      showPreview(data.previewOrder);
    } catch (err) {
      showError(err);
    } finally {
      busy = false;
      buttons.forEach((b) => { b.disabled = false; });
    }
  }
  const buttons = [
    h('button', { type: 'button', id: 'preview-order', onclick: () => run(false) }, 'Preview'),
    h('button', { type: 'submit', id: 'submit-order', class: 'primary' }, 'Submit'),
  ];

  el.append(
    h('div', { class: 'toolbar' }, h('h1', {}, 'New order'), h('a', { href: '#/orders' }, 'Orders'), exampleButton),
    h('form', { class: 'new-order', onsubmit: (ev) => { ev.preventDefault(); run(true); } },
      h('div', { class: 'fields' },
        h('label', {}, 'External id ', f.externalId),
        h('label', {}, 'Account ', f.accountId),
        h('label', {}, 'Requested completion ', f.requestedCompletion, h('span', { class: 'hint' }, ' (optional)'))),
      h('label', { class: 'block' }, 'Order attributes (a JSON object, optional)', f.attributes),
      h('h2', {}, 'Lines'),
      h('table', { class: 'lines' },
        h('thead', {}, h('tr', {}, ['Id', 'Product', 'Quantity', 'Parent', 'Attributes (JSON)', ''].map((t) => h('th', {}, t)))),
        lines),
      productList,
      h('div', { class: 'toolbar actions' },
        h('button', { type: 'button', id: 'add-line', onclick: () => lineRow() }, 'Add a line'), ...buttons)),
    msg, result);

  (async () => {
    try {
      if (app.can('catalog:read')) {
        const data = await app.client.query(CATALOG);
        products = data.catalog ? data.catalog.summary.products : [];
        fill(productList, products.map((p) => h('option', { value: p })));
        exampleButton.hidden = !products.includes(EXAMPLE_PRODUCT);
      }
    } catch (err) {
      fill(msg, h('p', { class: 'error' }, 'The catalog could not be read: ' + errorText(err)));
      msg.hidden = false;
    }
    if (wantExample) fillForm(example());
    else lineRow();
    el.dataset.ready = '1';
  })();
}
