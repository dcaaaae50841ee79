/**
 * The operator console (/dashboard): each node of the cluster with its connections (a bar chart),
 * messages and deliveries per second, recoveries, drains and rebalances, live over Herald itself (the
 * `cluster` channel, docs/protocol.md §4), and a form that publishes a test order event or promotion.
 *
 * It asks for an admin API key (kept in this tab's sessionStorage only, never localStorage or a
 * cookie), gets an operator token for it from POST /v1/cluster/token, reads GET /v1/cluster once for
 * the initial list, then follows the node stats; a node silent for SILENT_INTERVALS intervals is shown
 * as gone. Plain DOM and SVG, no framework; everything from the server goes in through textContent
 * and attributes only, never as HTML. The inline style and script are allowed by their hashes
 * (DASHBOARD_CSP).
 */
import { createHash } from 'node:crypto';
import { ORDER_STATUSES } from '../schemas.js';

const STYLE = `
  :root { font-family: system-ui, sans-serif; color: #1d2433; background: #f5f6f8; }
  body { margin: 0; }
  [hidden] { display: none !important; }
  header { display: flex; align-items: center; gap: 1rem; padding: .8rem 1.5rem; background: #1d2433; color: #fff; }
  header h1 { font-size: 1.1rem; margin: 0; flex: 1; }
  #via { color: #cfd6e6; font-size: .85rem; }
  header button { background: transparent; color: #cfd6e6; border: 1px solid #4b5563; border-radius: .3rem; padding: .2rem .6rem; cursor: pointer; }
  #status { padding: .2rem .7rem; border-radius: 1rem; font-size: .85rem; background: #6b7280; }
  #status[data-state="connected"] { background: #15803d; }
  #status[data-state="reconnecting"], #status[data-state="connecting"] { background: #b45309; }
  #status[data-state="closed"] { background: #b91c1c; }
  #notice { margin: 1rem 1.5rem 0; color: #b91c1c; }
  #sign-in { max-width: 28rem; margin: 3rem auto; background: #fff; padding: 1.5rem; border-radius: .5rem; box-shadow: 0 1px 3px #0002; }
  #sign-in label { display: block; font-weight: 600; margin-bottom: .4rem; }
  #sign-in input { width: 100%; box-sizing: border-box; padding: .45rem; font: inherit; }
  #sign-in button { margin-top: .8rem; }
  .hint { color: #6b7280; font-size: .85rem; }
  main { display: grid; grid-template-columns: 3fr 2fr; gap: 1.2rem; padding: 1.2rem 1.5rem; }
  section { background: #fff; border-radius: .5rem; padding: .9rem 1.1rem; box-shadow: 0 1px 3px #0002; }
  section h2 { font-size: 1rem; margin: 0 0 .7rem; }
  .wide { grid-column: 1 / -1; }
  #totals { display: grid; grid-template-columns: repeat(4, 1fr); gap: .8rem; }
  .total { background: #eef2ff; border-radius: .4rem; padding: .5rem .8rem; }
  .total strong { display: block; font-size: 1.5rem; }
  .total span { color: #4b5563; font-size: .8rem; }
  #chart { width: 100%; display: block; }
  #chart text { font-size: 13px; fill: #1d2433; }
  #chart .bar { fill: #4f46e5; }
  #chart g[data-state="draining"] .bar { fill: #d97706; }
  #chart g[data-state="gone"] .bar { fill: #9ca3af; }
  #chart g[data-state="gone"] text { fill: #9ca3af; }
  table { width: 100%; border-collapse: collapse; font-size: .9rem; }
  th, td { text-align: right; padding: .3rem .5rem; border-bottom: 1px solid #e5e7eb; }
  th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
  tr[data-state="gone"] td { color: #9ca3af; }
  .state { font-size: .8rem; padding: .05rem .45rem; border-radius: .6rem; background: #dcfce7; }
  tr[data-state="draining"] .state { background: #fef3c7; }
  tr[data-state="gone"] .state { background: #f3f4f6; }
  #send label { display: block; margin: .35rem 0; font-size: .9rem; }
  #send input, #send select { font: inherit; padding: .25rem; margin-left: .3rem; }
  #send fieldset { border: 1px solid #e5e7eb; border-radius: .4rem; margin: .5rem 0; }
  #sent { font-size: .9rem; }
  #sent[data-ok="false"] { color: #b91c1c; }
  .empty { color: #6b7280; font-style: italic; }
`;

const SCRIPT = `
import { HeraldClient } from '/dashboard/herald-client.js';

const KEY = 'herald.console.adminKey';
/** A node whose stats stopped for this many of its intervals is shown as gone; later it is dropped. */
const SILENT_INTERVALS = 3;
const DROP_AFTER_MS = 60000;
const $ = (id) => document.getElementById(id);
const status = $('status');
const setStatus = (state, title) => { status.dataset.state = state; status.textContent = state; status.title = title || ''; };
const notice = (text) => { const n = $('notice'); n.textContent = text; n.hidden = !text; };

/** id -> { id, connections, draining, stats?, seenAt, intervalMs } */
const nodes = new Map();
let client;
let intervalMs = 1000;

async function api(key, method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { authorization: 'Bearer ' + key, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) {
    const error = new Error(answer.message || 'HTTP ' + res.status);
    error.code = answer.code || 'http_' + res.status;
    error.status = res.status;
    throw error;
  }
  return answer;
}

const grantFor = (key) => api(key, 'POST', '/v1/cluster/token');

function signIn() {
  $('sign-in').hidden = false;
  $('console').hidden = true;
  $('sign-out').hidden = true;
  setStatus('signed out');
  $('key').focus();
}

$('key-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = $('key').value.trim();
  if (!key) return;
  try {
    const grant = await grantFor(key);
    sessionStorage.setItem(KEY, key);
    $('key').value = '';
    notice('');
    openConsole(key, grant);
  } catch (err) {
    notice(err.code === 'unauthorized' ? 'That API key was refused (unauthorized).'
      : err.code === 'insufficient_scope' ? 'That API key lacks the admin scope.'
      : 'Could not open the console: ' + err.code + ': ' + err.message);
  }
});

$('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  client?.close();
  client = undefined;
  $('via').textContent = '';
  nodes.clear();
  render();
  signIn();
});

async function openConsole(key, grant) {
  $('sign-in').hidden = true;
  $('console').hidden = false;
  $('sign-out').hidden = false;
  intervalMs = grant.statsIntervalMs || 1000;
  if (!grant.statsIntervalMs) notice('This node publishes no stats (CLUSTER_STATS_INTERVAL_MS=0): the list below is the node registry only.');
  if (grant.internalPort) {
    for (const el of $('send').elements) el.disabled = true;
    $('sent').textContent = 'INTERNAL_PORT is set: the publish API is on the public port only. Send test events there.';
  }
  try {
    const cluster = await api(key, 'GET', '/v1/cluster');
    for (const n of cluster.nodes) {
      nodes.set(n.id, { id: n.id, connections: n.connections, draining: n.draining, seenAt: Date.now(), intervalMs });
    }
  } catch (err) {
    notice('Could not read the cluster: ' + err.code + ': ' + err.message);
  }
  render();
  let first = grant;
  client = new HeraldClient({
    url: grant.url || location.origin.replace(/^http/, 'ws') + '/ws',
    token: async () => {
      const current = first || await grantFor(key);
      first = undefined;
      return current.token;
    },
  });
  client.on('state', (s) => {
    if (s.state === 'connected') $('via').textContent = 'via ' + s.welcome.node;
    if (s.state === 'connected') setStatus('connected', 'on node ' + s.welcome.node);
    else if (s.state === 'disconnected') setStatus('reconnecting');
    else setStatus(s.state);
    if (s.state === 'closed' && s.error) notice('Disconnected: ' + s.error.message);
  });
  client.on('error', (e) => {
    if (e.code === 'token_unavailable') notice('Could not get an operator token: ' + e.message);
    else if (e.channel === 'cluster') notice('The cluster channel was refused: ' + e.code);
  });
  client.on('message', (m) => {
    if (m.channel !== 'cluster' || m.event !== 'node.stats') return;
    const s = m.data;
    if (s === null || typeof s !== 'object' || typeof s.node !== 'string') return;
    nodes.set(s.node, {
      id: s.node,
      connections: Number(s.connections) || 0,
      draining: s.draining === true,
      stats: s,
      seenAt: Date.now(),
      intervalMs: Number(s.intervalMs) || intervalMs,
    });
    notice('');
    render();
  });
  client.subscribe('cluster');
  client.connect();
}

function stateOf(n, now) {
  if (now - n.seenAt > SILENT_INTERVALS * n.intervalMs + 500) return 'gone';
  return n.draining ? 'draining' : 'live';
}

const fmt = (v) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(1)) : '–');

function render() {
  const now = Date.now();
  for (const [id, n] of nodes) if (now - n.seenAt > DROP_AFTER_MS) nodes.delete(id);
  const list = [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id));
  const live = list.filter((n) => stateOf(n, now) !== 'gone');
  const sum = (field) => live.reduce((t, n) => t + (n.stats ? Number(n.stats[field]) || 0 : 0), 0);
  $('total-nodes').textContent = String(live.length);
  $('total-connections').textContent = String(live.reduce((t, n) => t + n.connections, 0));
  $('total-messages').textContent = fmt(sum('messagesPerSecond'));
  $('total-deliveries').textContent = fmt(sum('deliveriesPerSecond'));
  renderChart(list, now);
  renderTable(list, now);
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function renderChart(list, now) {
  const chart = $('chart');
  const row = 34, labelWidth = 190, width = 640, barMax = width - labelWidth - 60;
  chart.setAttribute('viewBox', '0 0 ' + width + ' ' + Math.max(row, list.length * row));
  chart.replaceChildren();
  if (list.length === 0) {
    chart.append(svg('text', { x: 0, y: 20, class: 'empty' }, 'No nodes yet.'));
    return;
  }
  const max = Math.max(1, ...list.map((n) => n.connections));
  list.forEach((n, i) => {
    const state = stateOf(n, now);
    const g = svg('g', { 'data-node': n.id, 'data-connections': n.connections, 'data-state': state, transform: 'translate(0,' + i * row + ')' });
    const label = n.id.length > 24 ? n.id.slice(0, 23) + '…' : n.id;
    g.append(svg('text', { x: 0, y: 21 }, label));
    const w = Math.max(2, Math.round((n.connections / max) * barMax));
    g.append(svg('rect', { class: 'bar', x: labelWidth, y: 6, width: w, height: 20, rx: 3 }));
    g.append(svg('text', { x: labelWidth + w + 8, y: 21, class: 'count' }, String(n.connections)));
    const title = svg('title', {}, n.id + ': ' + n.connections + ' connections (' + state + ')');
    g.append(title);
    chart.append(g);
  });
}

function renderTable(list, now) {
  const body = $('nodes').tBodies[0];
  body.replaceChildren();
  for (const n of list) {
    const state = stateOf(n, now);
    const tr = document.createElement('tr');
    tr.dataset.node = n.id;
    tr.dataset.state = state;
    const cells = [n.id, state, n.connections, n.stats?.messagesPerSecond, n.stats?.deliveriesPerSecond,
      n.stats?.recoveries, n.stats?.drains, n.stats?.rebalances];
    const fields = ['node', 'state', 'connections', 'messages', 'deliveries', 'recoveries', 'drains', 'rebalances'];
    cells.forEach((value, i) => {
      const td = document.createElement('td');
      td.dataset.field = fields[i];
      if (i === 1) { const span = document.createElement('span'); span.className = 'state'; span.textContent = state; td.append(span); }
      else td.textContent = i === 0 ? String(value) : fmt(value);
      tr.append(td);
    });
    body.append(tr);
  }
}

setInterval(render, 500);

// The test event form: an order event (user:{id} and order:{id}) or a promotion, over the REST API.
const kind = $('kind');
const showKind = () => {
  $('order-fields').hidden = kind.value !== 'order';
  $('promotion-fields').hidden = kind.value !== 'promotion';
};
kind.addEventListener('change', showKind);
showKind();

$('send').addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = sessionStorage.getItem(KEY);
  if (!key) return signIn();
  const f = $('send').elements;
  const sent = $('sent');
  try {
    let answer;
    if (kind.value === 'order') {
      answer = await api(key, 'POST', '/v1/orders/' + encodeURIComponent(f['order-id'].value.trim()) + '/events', {
        userId: f['user-id'].value.trim(),
        status: f['status'].value,
      });
    } else {
      const segment = f['segment'].value.trim();
      answer = await api(key, 'POST', '/v1/promotions', {
        promotionId: f['promotion-id'].value.trim(),
        title: f['title'].value,
        body: f['body'].value,
        ...(segment ? { segment } : {}),
      });
    }
    sent.dataset.ok = 'true';
    sent.textContent = 'Sent: ' + answer.messages.map((m) => m.channel + ' #' + m.offset).join(', ');
  } catch (err) {
    sent.dataset.ok = 'false';
    sent.textContent = 'Refused: ' + err.code + ': ' + err.message;
  }
});

const stored = sessionStorage.getItem(KEY);
if (stored) {
  grantFor(stored).then((grant) => openConsole(stored, grant), (err) => {
    sessionStorage.removeItem(KEY);
    notice('The stored key no longer works (' + err.code + '): sign in again.');
    signIn();
  });
} else signIn();
`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/**
 * The page's Content-Security-Policy: its own inline style and script by hash, the SDK bundle from
 * its own origin, fetches to its own origin and WebSockets anywhere (with INTERNAL_PORT the socket is
 * on the public port), no frames (clickjacking), no plugins, no forms posted elsewhere.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src 'self' ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self' ws: wss:",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herald operator console</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>Herald operator console</h1>
  <span id="via"></span>
  <span id="status" data-state="signed out">signed out</span>
  <button id="sign-out" type="button" hidden>Sign out</button>
</header>
<p id="notice" hidden></p>
<section id="sign-in" hidden>
  <form id="key-form">
    <label for="key">Admin API key</label>
    <input id="key" name="key" type="password" autocomplete="off" required>
    <button type="submit">Open console</button>
  </form>
  <p class="hint">A key with the admin scope. It is kept in this tab only (sessionStorage) and sent to this node alone.</p>
</section>
<main id="console" hidden>
  <section class="wide">
    <div id="totals">
      <div class="total"><strong id="total-nodes">0</strong><span>live nodes</span></div>
      <div class="total"><strong id="total-connections">0</strong><span>connections</span></div>
      <div class="total"><strong id="total-messages">0</strong><span>messages / s</span></div>
      <div class="total"><strong id="total-deliveries">0</strong><span>deliveries / s</span></div>
    </div>
  </section>
  <section>
    <h2>Connections per node</h2>
    <svg id="chart" role="img" aria-label="Connections per node" viewBox="0 0 640 34"></svg>
  </section>
  <section>
    <h2>Send a test event</h2>
    <form id="send">
      <label>Kind <select id="kind" name="kind"><option value="order">order event</option><option value="promotion">promotion</option></select></label>
      <fieldset id="order-fields">
        <label>User id <input name="user-id" value="42" required maxlength="128"></label>
        <label>Order id <input name="order-id" value="1001" required maxlength="128"></label>
        <label>Status <select name="status">${ORDER_STATUSES.map((status) => `<option${status === 'shipped' ? ' selected' : ''}>${status}</option>`).join('')}</select></label>
      </fieldset>
      <fieldset id="promotion-fields">
        <label>Promotion id <input name="promotion-id" value="console-test" maxlength="128"></label>
        <label>Title <input name="title" value="Test promotion" maxlength="200"></label>
        <label>Body <input name="body" value="Sent from the operator console" maxlength="4000"></label>
        <label>Segment <input name="segment" placeholder="(everyone)" maxlength="64"></label>
      </fieldset>
      <button type="submit">Send</button>
    </form>
    <p id="sent"></p>
  </section>
  <section class="wide">
    <h2>Nodes</h2>
    <table id="nodes">
      <thead><tr><th>node</th><th>state</th><th>connections</th><th>messages/s</th><th>deliveries/s</th><th>recoveries</th><th>drains</th><th>rebalances</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
<script type="module">${SCRIPT}</script>
</body>
</html>
`;
