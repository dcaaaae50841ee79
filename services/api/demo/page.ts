/**
 * The storefront demo page (/demo): an order tracker and promotion toasts, live over Herald, built on
 * the browser SDK bundle (/demo/herald-client.js). `/demo?user=42` opens as user 42 with a token from
 * /demo/token; `/demo` alone is a guest (promotions only, where the node takes guests). The SDK
 * falls back to Server-Sent Events where WebSockets are blocked; `&transport=sse` uses SSE from the
 * start. The header shows the transport in use. The order tracker shows how many order events the
 * user has not marked read (on any device: the SDK's unread count); "Mark as read", or a click on the
 * tracker, acks them for every device of the user.
 *
 * Everything the page shows comes from messages: textContent only, never HTML from a message.
 */
export const DEMO_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herald storefront demo</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2433; background: #f5f6f8; }
  body { margin: 0; }
  header { display: flex; align-items: center; gap: 1rem; padding: .8rem 1.5rem; background: #1d2433; color: #fff; }
  header h1 { font-size: 1.1rem; margin: 0; flex: 1; }
  header nav a { color: #cfd6e6; margin-left: .6rem; }
  #status { padding: .2rem .7rem; border-radius: 1rem; font-size: .85rem; background: #6b7280; }
  #status[data-state="connected"] { background: #15803d; }
  #status[data-state="recovered"] { background: #0e7490; }
  #status[data-state="reconnecting"], #status[data-state="connecting"] { background: #b45309; }
  #status[data-state="closed"] { background: #b91c1c; }
  #transport { font-size: .8rem; color: #cfd6e6; }
  main { display: grid; grid-template-columns: 2fr 1fr; gap: 1.5rem; padding: 1.5rem; }
  section h2 { font-size: 1rem; margin: 0 0 .8rem; }
  .order { background: #fff; border-radius: .5rem; padding: .8rem 1rem; margin-bottom: 1rem; box-shadow: 0 1px 3px #0002; }
  .order h3 { margin: 0 0 .5rem; font-size: .95rem; }
  .timeline { list-style: none; margin: 0; padding: 0 0 0 1rem; border-left: 3px solid #c7d2fe; }
  .timeline li { margin: .3rem 0; }
  .timeline li.current { font-weight: 600; }
  .timeline time { color: #6b7280; font-size: .8rem; margin-left: .5rem; }
  #toasts { display: flex; flex-direction: column; gap: .6rem; }
  .toast { background: #fff7ed; border-left: 4px solid #f97316; border-radius: .4rem; padding: .6rem .8rem; box-shadow: 0 1px 3px #0002; }
  .toast p { margin: .2rem 0 0; font-size: .9rem; }
  .empty { color: #6b7280; font-style: italic; }
  #notice { margin: 1rem 1.5rem 0; color: #b91c1c; }
  #unread { margin-left: .5rem; padding: .1rem .55rem; border-radius: 1rem; background: #dc2626; color: #fff; font-size: .8rem; }
  #mark-read { margin-left: .5rem; font-size: .8rem; }
</style>
</head>
<body>
<header>
  <h1>Herald storefront demo</h1>
  <span id="who"></span>
  <span id="status" data-state="connecting">connecting</span>
  <span id="transport"></span>
  <nav><a href="/demo?user=42">user 42</a><a href="/demo?user=7">user 7</a><a href="/demo">guest</a></nav>
</header>
<p id="notice" hidden></p>
<main>
  <section>
    <h2>Your orders<span id="unread" hidden></span><button id="mark-read" type="button" hidden>Mark as read</button></h2>
    <div id="orders"><p class="empty" id="no-orders">No order events yet.</p></div>
  </section>
  <section>
    <h2>Promotions</h2>
    <div id="toasts"><p class="empty" id="no-promotions">No promotions yet.</p></div>
  </section>
</main>
<script type="module">
import { HeraldClient } from '/demo/herald-client.js';

const params = new URLSearchParams(location.search);
const user = params.get('user');
const $ = (id) => document.getElementById(id);
const status = $('status');
const setStatus = (state) => { status.dataset.state = state; status.textContent = state; };
$('who').textContent = user ? 'user ' + user : 'guest';
if (!user) $('orders').closest('section').hidden = true;

function notice(text) { const n = $('notice'); n.textContent = text; n.hidden = false; }

async function token() {
  const res = await fetch('/demo/token?user=' + encodeURIComponent(user));
  if (!res.ok) throw new Error('no demo token (' + res.status + ')');
  return (await res.json()).token;
}

function showOrder(data, ts) {
  $('no-orders')?.remove();
  let card = document.querySelector('[data-order="' + CSS.escape(String(data.orderId)) + '"]');
  if (!card) {
    card = document.createElement('article');
    card.className = 'order';
    card.dataset.order = String(data.orderId);
    const h = document.createElement('h3');
    h.textContent = 'Order ' + data.orderId;
    const ol = document.createElement('ol');
    ol.className = 'timeline';
    card.append(h, ol);
    $('orders').prepend(card);
  }
  const ol = card.querySelector('ol');
  ol.querySelector('.current')?.classList.remove('current');
  const li = document.createElement('li');
  li.className = 'current';
  li.dataset.status = String(data.status);
  li.textContent = String(data.status);
  const time = document.createElement('time');
  time.textContent = new Date(data.occurredAt ?? ts).toLocaleTimeString();
  li.append(time);
  ol.append(li);
}

function showPromotion(data) {
  $('no-promotions')?.remove();
  const toast = document.createElement('div');
  toast.className = 'toast';
  toast.dataset.promotion = String(data.promotionId ?? '');
  const title = document.createElement('strong');
  title.textContent = String(data.title ?? 'Promotion');
  toast.append(title);
  if (data.body) { const p = document.createElement('p'); p.textContent = String(data.body); toast.append(p); }
  $('toasts').prepend(toast);
}

const client = new HeraldClient({
  url: location.origin.replace(/^http/, 'ws') + '/ws',
  ...(user ? { token } : { guest: true }),
  ...(params.get('transport') === 'sse' ? { transports: ['sse'] } : {}),
});
client.on('error', (e) => {
  if (e.code === 'token_unavailable') notice('Could not get a demo token for user ' + user + ': ' + e.message);
});
client.on('state', (s) => {
  if (s.state === 'connected') {
    setStatus('connected');
    status.dataset.node = s.welcome.node;
    status.title = 'on node ' + s.welcome.node;
    status.dataset.transport = s.transport;
    $('transport').textContent = s.transport === 'sse' ? 'over SSE (fallback)' : 'over WebSocket';
  }
  else if (s.state === 'disconnected') setStatus('reconnecting');
  else setStatus(s.state);
  if (s.state === 'closed' && s.error) notice(s.error.code === 'bad_frame' && !user
    ? 'This node takes no guests (WS_ALLOW_GUESTS=true turns them on): open /demo?user=42.'
    : 'Disconnected: ' + s.error.message);
});
client.on('recovery', (r) => { if (r.previous && r.recovered) setStatus('recovered'); });
client.on('message', (m) => {
  if (m.channel === userChannel) showUnread();
  if (m.data === null || typeof m.data !== 'object') return; // not an order event or promotion shape
  if (m.event === 'order.status') showOrder(m.data, m.ts);
  else if (m.event === 'promotion') showPromotion(m.data);
});

// Unread order events: the user's read position is kept by Herald, so every device shows the same count.
const userChannel = user ? 'user:' + user : undefined;
function showUnread() {
  const count = userChannel ? client.unread(userChannel) ?? 0 : 0;
  const badge = $('unread');
  badge.dataset.count = String(count);
  badge.textContent = count + ' unread';
  badge.hidden = count === 0;
  $('mark-read').hidden = count === 0;
}
function markRead() {
  if (!userChannel || !client.unread(userChannel)) return;
  client.ack(userChannel).then(showUnread, (e) => notice(e.code === 'unsupported_transport'
    ? 'Marking as read needs a WebSocket; this page is on the SSE fallback.'
    : 'Could not mark as read: ' + e.message));
}
client.on('read', showUnread);
$('mark-read').addEventListener('click', markRead);
$('orders').addEventListener('click', markRead);
// How many of the page's channels are subscribed now (#status data-subscribed): an event published
// before its channel is subscribed is not the page's (a first subscription starts at the newest message).
const live = new Set();
function track(subscription) {
  subscription.on('state', (state) => {
    if (state === 'subscribed') live.add(subscription.channel);
    else live.delete(subscription.channel);
    status.dataset.subscribed = String(live.size);
  });
}
if (user) track(client.subscribe('user:' + user));
track(client.subscribe('promotions'));
client.connect();
</script>
</body>
</html>
`;
