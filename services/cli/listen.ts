/**
 * A tiny terminal client: connects, subscribes, prints every frame as one JSON line.
 *   npm run -s listen -- --token "$TOKEN" user:42 promotions [--url ws://127.0.0.1:8080/ws]
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    token: { type: 'string', short: 't' },
    url: { type: 'string', default: `ws://127.0.0.1:${process.env.PORT ?? '8080'}/ws` },
  },
});
if (values.token === undefined || positionals.length === 0) {
  console.error('usage: npm run -s listen -- --token <jwt> <channel> [channel …] [--url ws://host:port/ws]');
  process.exit(2);
}

const ws = new WebSocket(values.url);
ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: values.token })));
ws.on('message', (data: Buffer) => {
  const line = data.toString('utf8');
  console.log(line);
  const frame = JSON.parse(line) as { type: string };
  if (frame.type === 'welcome')
    for (const channel of positionals) ws.send(JSON.stringify({ type: 'subscribe', channel }));
});
const ping = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('{"type":"ping"}'), 20_000);
ws.on('close', (code: number, reason: Buffer) => {
  clearInterval(ping);
  console.error(`closed ${code} ${reason.toString()}`);
  process.exit(code === 1000 ? 0 : 1);
});
ws.on('error', (err) => {
  console.error(`error: ${err.message}`);
  process.exit(1);
});
process.on('SIGINT', () => ws.close(1000));
