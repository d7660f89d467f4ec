// The dashboard: who is signed in, the navigation, and the page the URL's
// fragment names (#/orders, #/orders/new, #/orders/<id>, #/work, #/fallout,
// #/systems, #/analytics).

import { Client, credentials } from './gql.js';
import { h, fill, errorText } from './ui.js';
import * as orders from './orders.js';
import * as order from './order.js';
import * as neworder from './neworder.js';
import * as work from './work.js';
import * as fallout from './fallout.js';
import * as systems from './systems.js';
import * as analytics from './analytics.js';

const endpoint = document.querySelector('meta[name="baton-endpoint"]').content;
const client = new Client(endpoint);

const ME = `{ me { name method roles permissions accounts queues expiresAt } }`;

// Pages by the first part of the route, each with the permission that shows
// it in the navigation (any of them).
const pages = [
  { path: 'orders', title: 'Orders', module: orders, needs: ['order:read'] },
  { path: 'work', title: 'Work', module: work, needs: ['task:work', 'task:manage'] },
  { path: 'fallout', title: 'Fallout', module: fallout, needs: ['order:read'] },
  { path: 'systems', title: 'Systems', module: systems, needs: ['catalog:read'] },
  { path: 'analytics', title: 'Analytics', module: analytics, needs: ['order:read'] },
];

const app = {
  client,
  me: null,
  can(permission) {
    return !!this.me && this.me.permissions.includes(permission);
  },
  canAny(permissions) {
    return permissions.some((p) => this.can(p));
  },
};

let cleanup = null;
let connected = false;

function route() {
  let parts;
  try {
    parts = (location.hash.replace(/^#\/?/, '') || 'orders').split('/').map(decodeURIComponent);
  } catch {
    return null; // a malformed address (%E0): no such page
  }
  if (parts[0] === 'orders' && parts[1] === 'new') return { page: { path: 'neworder', module: neworder, needs: ['order:submit'] }, params: { example: parts[2] === 'example' }, nav: 'orders' };
  if (parts[0] === 'orders' && parts[1]) return { page: { path: 'order', module: order, needs: ['order:read'] }, params: { id: parts[1] }, nav: 'orders' };
  const page = pages.find((p) => p.path === parts[0]);
  return page ? { page, params: {}, nav: page.path } : null;
}

function header(active) {
  const top = document.getElementById('top');
  const who = app.me
    ? h('span', { class: 'who', title: `roles: ${app.me.roles.join(', ') || 'none'}` },
      app.me.method === 'OPEN' ? `${app.me.name} (open server)` : `${app.me.name} · ${app.me.roles.join(', ')}`)
    : null;
  fill(top, 
    h('a', { class: 'brand', href: '#/orders' }, h('img', { src: document.querySelector('link[rel=icon]').href, alt: '' }), 'Baton'),
    h('nav', {}, app.me ? pages.filter((p) => app.canAny(p.needs)).map((p) =>
      h('a', { href: '#/' + p.path, class: p.path === active ? 'active' : null }, p.title)) : null),
    h('span', { class: 'live ' + (connected ? 'on' : 'off'), title: connected ? 'live feed connected' : 'live feed not connected' }, connected ? '● live' : '○ offline'),
    who,
    h('button', { class: 'link', id: 'signin-button', onclick: () => signIn(app.me && app.me.method) }, !app.me ? 'Sign in' : app.me.method === 'OPEN' ? 'Name yourself' : 'Sign out'),
  );
}

function show() {
  if (cleanup) cleanup();
  cleanup = null;
  const main = document.getElementById('main');
  const fresh = h('main', { id: 'main' });
  main.replaceWith(fresh);
  const r = route();
  header(r && r.nav);
  if (!r) {
    fresh.append(h('p', { class: 'error' }, 'No such page. ', h('a', { href: '#/orders' }, 'Orders')));
    fresh.dataset.page = 'notfound';
    fresh.dataset.ready = '1';
    return;
  }
  if (!app.canAny(r.page.needs)) {
    fresh.append(h('p', { class: 'error' }, `You may not see this page: it needs ${r.page.needs.join(' or ')}.`));
    fresh.dataset.page = r.page.path;
    fresh.dataset.ready = '1';
    return;
  }
  fresh.dataset.page = r.page.path;
  cleanup = r.page.module.render(app, fresh, r.params) || null;
}

// signIn asks for credentials: an API key or token (sent as a Bearer
// token) when the server authenticates, a name (X-Baton-User) on an open
// development server. Signing out drops them.
function signIn(method) {
  if (method && method !== 'OPEN') {
    credentials.set({});
    client.reset();
    boot();
    return;
  }
  if (cleanup) cleanup();
  cleanup = null;
  const open = method === 'OPEN';
  const input = h('input', { id: 'signin-secret', type: open ? 'text' : 'password', autocomplete: 'off', required: true, size: 40 });
  const main = h('main', { id: 'main', dataset: { page: 'signin', ready: '1' } },
    h('section', { class: 'signin' },
      h('h2', {}, open ? 'Name yourself' : 'Sign in'),
      h('p', {}, open
        ? 'This server has no authentication configured (a development server): whoever you name is recorded as the actor.'
        : 'Paste an API key (BATON_API_TOKENS or createApiKey) or an OpenID Connect access token. It is sent as a Bearer token and kept in this tab only (sessionStorage).'),
      h('form', {
        onsubmit: (ev) => {
          ev.preventDefault();
          credentials.set(open ? { user: input.value.trim() } : { token: input.value.trim() });
          client.reset();
          boot();
        },
      }, h('label', {}, open ? 'Name ' : 'Key or token ', input), ' ', h('button', { type: 'submit' }, open ? 'Use this name' : 'Sign in')),
    ));
  document.getElementById('main').replaceWith(main);
  header(null);
  input.focus();
}

async function boot() {
  try {
    const data = await client.query(ME);
    app.me = data.me;
  } catch (err) {
    app.me = null;
    if (err.code === 'UNAUTHENTICATED') {
      signIn(null);
      if (credentials.token()) {
        document.querySelector('.signin').append(h('p', { class: 'error' }, 'That key or token was not accepted.'));
      }
      return;
    }
    fill(document.getElementById('main'), h('p', { class: 'error' }, 'The server did not answer: ' + errorText(err)));
    return;
  }
  show();
}

client.onUnauthenticated = () => {
  if (app.me) {
    app.me = null;
    client.reset();
    signIn(null);
  }
};
client.onConnection = (up) => {
  connected = up;
  const live = document.querySelector('#top .live');
  if (live) {
    live.className = 'live ' + (up ? 'on' : 'off');
    live.textContent = up ? '● live' : '○ offline';
  }
};

window.addEventListener('hashchange', () => app.me && show());
boot();
