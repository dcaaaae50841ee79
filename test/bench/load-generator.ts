/**
 * Benchmark load generator: its own process, driven by the orchestrator (run.ts) over IPC.
 * Opens the WebSocket clients, subscribes them, and counts and times what they receive.
 */
import WebSocket from 'ws';

interface Start {
  kind: 'start';
  urls: string[];
  clients: number;
  tokens: string[];
}
type Command =
  Start | { kind: 'expect-broadcast'; total: number } | { kind: 'latency-report' } | { kind: 'exit' };

const send = (message: unknown): void => void process.send?.(message);
const now = (): number => performance.timeOrigin + performance.now();

let broadcastReceived = 0;
let broadcastTarget = Infinity;
const latencies: number[] = [];
const sockets: WebSocket[] = [];

function onMessage(raw: Buffer): void {
  const text = raw.toString('utf8');
  // Cheap routing on the hot receive path: only latency probes are parsed.
  if (text.includes('"channel":"promotions"')) {
    broadcastReceived++;
    if (broadcastReceived === broadcastTarget) send({ kind: 'broadcast-done', at: now() });
    return;
  }
  if (text.includes('"event":"probe"')) {
    const frame = JSON.parse(text) as { data: { sentAt: number } };
    latencies.push(now() - frame.data.sentAt);
  }
}

async function open(url: string, token: string, userId: string): Promise<void> {
  const ws = new WebSocket(`${url}?token=${token}`);
  sockets.push(ws);
  await new Promise<void>((resolve, reject) => {
    let subscribed = 0;
    ws.on('error', reject);
    ws.on('message', function setup(raw: Buffer) {
      const frame = JSON.parse(raw.toString('utf8')) as { type: string };
      if (frame.type === 'welcome') {
        ws.send(JSON.stringify({ type: 'subscribe', channel: 'promotions' }));
        ws.send(JSON.stringify({ type: 'subscribe', channel: `user:${userId}` }));
      } else if (frame.type === 'subscribed' && ++subscribed === 2) {
        ws.off('message', setup);
        ws.on('message', onMessage);
        resolve();
      } else if (frame.type === 'error') reject(new Error(raw.toString('utf8')));
    });
  });
}

process.on('message', (command: Command) => {
  void (async () => {
    switch (command.kind) {
      case 'start': {
        // A bounded number of handshakes in flight keeps the nodes' accept queues sane.
        const parallel = 100;
        for (let i = 0; i < command.clients; i += parallel) {
          await Promise.all(
            Array.from({ length: Math.min(parallel, command.clients - i) }, (_, j) => {
              const n = i + j;
              return open(command.urls[n % command.urls.length]!, command.tokens[n]!, `bench-${n}`);
            }),
          );
        }
        send({ kind: 'ready' });
        break;
      }
      case 'expect-broadcast':
        broadcastReceived = 0;
        broadcastTarget = command.total;
        send({ kind: 'armed' });
        break;
      case 'latency-report':
        send({ kind: 'latencies', values: latencies.splice(0) });
        break;
      case 'exit':
        for (const ws of sockets) ws.terminate();
        process.exit(0);
    }
  })().catch((err: unknown) => {
    send({ kind: 'error', message: String(err) });
    process.exit(1);
  });
});
send({ kind: 'hello' });
