// The dashboard's GraphQL client: queries and mutations by HTTP POST, the
// live feed over one websocket speaking graphql-transport-ws. Every feed
// remembers the cursor of the last event it delivered; when the connection
// drops, or the server ends a feed with SLOW_SUBSCRIBER or UNAVAILABLE, the
// feed subscribes again with `after: <cursor>` and continues with no gap and
// no duplicate (README "The live feed").

const KEY_TOKEN = 'baton.token';
const KEY_USER = 'baton.user';

// Credentials live in sessionStorage: they last as long as the tab.
export const credentials = {
  token() { return sessionStorage.getItem(KEY_TOKEN) || ''; },
  user() { return sessionStorage.getItem(KEY_USER) || ''; },
  set({ token = '', user = '' }) {
    token ? sessionStorage.setItem(KEY_TOKEN, token) : sessionStorage.removeItem(KEY_TOKEN);
    user ? sessionStorage.setItem(KEY_USER, user) : sessionStorage.removeItem(KEY_USER);
  },
};

// GraphQLError is a response's first error, with its extensions.code; all
// of them are in .errors.
export class GraphQLError extends Error {
  constructor(errors, status) {
    const first = errors[0] || {};
    super(first.message || `HTTP ${status}`);
    this.code = (first.extensions && first.extensions.code) || (status === 401 ? 'UNAUTHENTICATED' : 'HTTP_' + status);
    this.errors = errors;
    this.status = status;
  }
}

// Feeds that end with these codes resume from their cursor.
const RESUMABLE = new Set(['SLOW_SUBSCRIBER', 'UNAVAILABLE']);

export class Client {
  constructor(endpoint) {
    this.endpoint = new URL(endpoint, location.href);
    this.onUnauthenticated = () => {};
    this.onConnection = () => {};
    this.feeds = new Map(); // id -> feed
    this.nextId = 1;
    this.ws = null;
    this.acked = false;
    this.retryDelay = 500;
    this.retryTimer = null;
  }

  headers() {
    const h = { 'Content-Type': 'application/json', Accept: 'application/json' };
    const token = credentials.token();
    if (token) h.Authorization = 'Bearer ' + token;
    else if (credentials.user()) h['X-Baton-User'] = credentials.user();
    return h;
  }

  // request returns {data, errors} as the server answered (errors may be
  // partial, as retrySteps reports them); it throws GraphQLError when there
  // is no data at all.
  async request(query, variables = {}) {
    const res = await fetch(this.endpoint, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify({ query, variables }),
      credentials: 'same-origin',
    });
    let body;
    try {
      body = await res.json();
    } catch {
      throw new GraphQLError([{ message: `HTTP ${res.status}` }], res.status);
    }
    if (res.status === 401 || (body.errors || []).some((e) => e.extensions && e.extensions.code === 'UNAUTHENTICATED')) {
      this.onUnauthenticated();
    }
    if (!body.data) throw new GraphQLError(body.errors || [], res.status);
    return { data: body.data, errors: body.errors || [] };
  }

  // query returns data, throwing on any error.
  async query(query, variables) {
    const { data, errors } = await this.request(query, variables);
    if (errors.length) throw new GraphQLError(errors, 200);
    return data;
  }

  // subscribe delivers each event (the value of the subscription's one root
  // field) to onEvent, and errors that end the feed to onError. The query's
  // root field must take `after: $after` and select `cursor`. It returns a
  // function that ends the feed.
  subscribe(query, variables, onEvent, onError = () => {}) {
    const feed = { id: String(this.nextId++), query, variables: { ...variables }, onEvent, onError, cursor: variables.after ?? null };
    this.feeds.set(feed.id, feed);
    this.connect();
    if (this.acked) this.start(feed);
    return () => {
      if (!this.feeds.delete(feed.id)) return;
      if (this.acked) this.send({ id: feed.id, type: 'complete' });
      if (this.feeds.size === 0) this.close();
    };
  }

  start(feed) {
    const variables = { ...feed.variables };
    if (feed.cursor !== null && feed.cursor !== undefined) variables.after = feed.cursor;
    this.send({ id: feed.id, type: 'subscribe', payload: { query: feed.query, variables } });
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  connect() {
    if (this.ws || this.retryTimer) return;
    const url = new URL(this.endpoint.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url, 'graphql-transport-ws');
    this.ws = ws;
    this.acked = false;
    ws.onopen = () => {
      const payload = {};
      const token = credentials.token();
      if (token) payload.authorization = 'Bearer ' + token;
      else if (credentials.user()) payload.user = credentials.user();
      ws.send(JSON.stringify({ type: 'connection_init', payload }));
    };
    ws.onmessage = (ev) => this.receive(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.acked = false;
      this.onConnection(false);
      if (ev.code === 4401 || ev.code === 4403) {
        this.onUnauthenticated();
        return;
      }
      if (this.feeds.size === 0) return;
      // Connect again, waiting longer each time (at most 10 s).
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.connect();
      }, this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, 10000);
    };
  }

  receive(msg) {
    switch (msg.type) {
      case 'connection_ack':
        this.acked = true;
        this.retryDelay = 500;
        this.onConnection(true);
        for (const feed of this.feeds.values()) this.start(feed);
        break;
      case 'ping':
        this.send({ type: 'pong' });
        break;
      case 'next': {
        const feed = this.feeds.get(msg.id);
        if (!feed) return;
        const p = msg.payload || {};
        if (p.errors && p.errors.length) {
          this.ended(feed, p.errors);
          return;
        }
        const event = p.data && Object.values(p.data)[0];
        if (!event) return;
        if (event.cursor) feed.cursor = event.cursor;
        feed.onEvent(event);
        break;
      }
      case 'error': {
        const feed = this.feeds.get(msg.id);
        if (feed) this.ended(feed, msg.payload || []);
        break;
      }
      case 'complete': {
        // The server ended a feed the page still follows (a feed has no
        // last event): subscribe again from its cursor, as after
        // UNAVAILABLE. (After an error the feed is under a new id already.)
        const feed = this.feeds.get(msg.id);
        if (feed) this.ended(feed, [{ message: 'feed completed', extensions: { code: 'UNAVAILABLE' } }]);
        break;
      }
    }
  }

  // ended handles a feed that the server ended with errors: resumable ones
  // resubscribe from the cursor, others reach the feed's onError.
  ended(feed, errors) {
    const code = errors[0] && errors[0].extensions && errors[0].extensions.code;
    if (RESUMABLE.has(code)) {
      // The server may send complete after the error: resume under a new id.
      this.feeds.delete(feed.id);
      feed.id = String(this.nextId++);
      this.feeds.set(feed.id, feed);
      setTimeout(() => this.acked && this.feeds.has(feed.id) && this.start(feed), 200);
      return;
    }
    this.feeds.delete(feed.id);
    if (code === 'UNAUTHENTICATED') this.onUnauthenticated();
    feed.onError(new GraphQLError(errors, 200));
  }

  close() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const ws = this.ws;
    this.ws = null;
    this.acked = false;
    if (ws) ws.close(1000);
  }

  // reset drops every feed and the connection (after signing in or out).
  reset() {
    this.feeds.clear();
    this.close();
  }
}
