// Small DOM helpers. Text always goes in as text (never as HTML), and no
// element gets an inline style: the page's Content-Security-Policy allows
// only the stylesheet, so looks come from classes.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h('a', {href: '#/orders'}, 'Orders') makes an HTML element.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s('rect', {x: 1}) makes an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

// when formats a time as local date and time, to the second.
export function when(t) {
  if (!t) return '';
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// duration formats milliseconds as 3h20m, 4m10s, 900ms.
export function duration(ms) {
  if (ms < 1000) return Math.round(ms) + 'ms';
  let s = Math.round(ms / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hr = Math.floor(s / 3600); s -= hr * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d${hr ? hr + 'h' : ''}`;
  if (hr) return `${hr}h${m ? m + 'm' : ''}`;
  if (m) return `${m}m${s ? s + 's' : ''}`;
  return `${s}s`;
}

export function badge(value, kind = 'st') {
  return h('span', { class: `badge ${kind}-${value}`, dataset: { value } }, value);
}

// table(columns, rows, rowAttrs): columns are [title, cell(row)].
export function table(columns, rows, rowAttrs = () => ({})) {
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map(([title]) => h('th', {}, title)))),
    h('tbody', {}, rows.map((r) => h('tr', rowAttrs(r), columns.map(([, cell]) => h('td', {}, cell(r)))))),
  );
}

// debounce calls fn at most once per wait ms, after the last call.
export function debounce(fn, wait) {
  let timer = null;
  const d = () => {
    clearTimeout(timer);
    timer = setTimeout(fn, wait);
  };
  d.cancel = () => clearTimeout(timer);
  return d;
}

// message shows an error (or a notice) in a page's message area.
export function errorText(err) {
  if (!err) return '';
  return err.code ? `${err.message} (${err.code})` : String(err.message || err);
}

export function section(title, ...children) {
  return h('section', {}, h('h2', {}, title), ...children);
}

// fill replaces el's children, leaving out null, undefined and false as h
// does (replaceChildren would write them as text).
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}
