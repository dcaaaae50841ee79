/**
 * `npm run bench`: the baseline benchmark, in its own process tree (not a test).
 *
 * Two Herald nodes (separate processes, cluster mode on the local Redis and RabbitMQ) and a load
 * generator process with BENCH_CLIENTS WebSocket clients spread over both nodes. Reports idle memory
 * per connection, broadcast deliveries per second, gateway CPU per 1,000 deliveries, and REST-to-client
 * latency of user-targeted events at a fixed rate. Prints a table and writes JSON.
 *
 * Knobs (environment): BENCH_CLIENTS (4000), BENCH_BROADCASTS (200), BENCH_BATCH (20),
 * BENCH_RATE (200 user events/s), BENCH_SECONDS (10).
 */
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { startCluster, type NodeProcess } from '../helpers/node-process.js';
import { PUBLISH_ONLY } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';

const int = (name: string, def: number): number => {
  const n = Number(process.env[name] ?? def);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
  return n;
};
const CLIENTS = int('BENCH_CLIENTS', 4000);
const BROADCASTS = int('BENCH_BROADCASTS', 200);
const BATCH = int('BENCH_BATCH', 20);
const RATE = int('BENCH_RATE', 200);
const SECONDS = int('BENCH_SECONDS', 10);
const CLK_TCK = 100;

const now = (): number => performance.timeOrigin + performance.now();
const cpuMs = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
};
const rssKb = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
const totalCpu = (nodes: NodeProcess[]): number => nodes.reduce((sum, n) => sum + cpuMs(n.child.pid!), 0);
/** Max event-loop lag of a node since its previous scrape (prom-client resets the histogram on scrape). */
async function eventLoopLagMaxMs(node: NodeProcess): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const value = /^herald_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1];
  return value === undefined ? NaN : Number(value) * 1000;
}
const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function main(): Promise<void> {
  const cluster = await startCluster(2, { LOG_LEVEL: 'info', WS_MAX_CONNECTIONS_PER_USER: '100000' });
  const nodes = cluster.nodes;
  const generator = fork(new URL('./load-generator.ts', import.meta.url).pathname, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const inbox: { kind: string; [k: string]: unknown }[] = [];
  const waiters: (() => void)[] = [];
  generator.on('message', (m: { kind: string }) => {
    inbox.push(m);
    for (const w of waiters.splice(0)) w();
  });
  const receive = async (kind: string, timeoutMs: number): Promise<{ [k: string]: unknown }> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = inbox.findIndex((m) => m.kind === kind || m.kind === 'error');
      if (index >= 0) {
        const [m] = inbox.splice(index, 1);
        if (m!.kind === 'error') throw new Error(`load generator: ${String(m!.message)}`);
        return m!;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${kind} from the load generator`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200).unref();
      });
    }
  };

  try {
    await receive('hello', 30_000);
    const rssBefore = nodes.map((n) => rssKb(n.child.pid!));
    const tokens = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => mintToken(`bench-${i}`)));
    const connectStart = now();
    generator.send({ kind: 'start', urls: nodes.map((n) => n.wsUrl), clients: CLIENTS, tokens });
    await receive('ready', 300_000);
    const connectSeconds = (now() - connectStart) / 1000;
    const rssAfter = nodes.map((n) => rssKb(n.child.pid!));
    const perConnectionKb =
      (rssAfter.reduce((a, b) => a + b, 0) - rssBefore.reduce((a, b) => a + b, 0)) / CLIENTS;

    // ---- broadcast: BROADCASTS promotions, each to every client ------------------------------------
    const deliveries = CLIENTS * BROADCASTS;
    generator.send({ kind: 'expect-broadcast', total: deliveries });
    await receive('armed', 10_000);
    const cpuBefore = totalCpu(nodes);
    const broadcastStart = now();
    for (let sent = 0, i = 0; sent < BROADCASTS; sent += BATCH, i++) {
      const size = Math.min(BATCH, BROADCASTS - sent);
      const res = await fetch(`${nodes[i % nodes.length]!.url}/v1/publish/batch`, {
        method: 'POST',
        headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json' },
        body: JSON.stringify({
          messages: Array.from({ length: size }, (_, k) => ({
            channel: 'promotions',
            event: 'promotion',
            data: {
              promotionId: `bench-${sent + k}`,
              title: 'Black Friday',
              body: '-30% on everything, today only',
            },
          })),
        }),
      });
      if (res.status !== 202) throw new Error(`publish answered ${res.status}: ${await res.text()}`);
    }
    const done = await receive('broadcast-done', 300_000);
    const broadcastSeconds = ((done.at as number) - broadcastStart) / 1000;
    const broadcastCpu = totalCpu(nodes) - cpuBefore;

    // ---- latency: user-targeted events at a fixed rate ---------------------------------------------
    let sent = 0;
    const total = RATE * SECONDS;
    const inflight: Promise<unknown>[] = [];
    const latencyCpuBefore = totalCpu(nodes);
    await Promise.all(nodes.map(eventLoopLagMaxMs));
    await new Promise<void>((resolve) => {
      const started = now();
      const timer = setInterval(() => {
        const due = Math.min(total, Math.floor(((now() - started) / 1000) * RATE));
        for (; sent < due; sent++) {
          const user = `bench-${(sent * 7919) % CLIENTS}`;
          inflight.push(
            fetch(`${nodes[sent % nodes.length]!.url}/v1/publish`, {
              method: 'POST',
              headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json' },
              body: JSON.stringify({ channel: `user:${user}`, event: 'probe', data: { sentAt: now() } }),
            }),
          );
        }
        if (sent >= total) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
    });
    await Promise.all(inflight);
    let latencies: number[] = [];
    const deadline = Date.now() + 30_000;
    while (latencies.length < total && Date.now() < deadline) {
      generator.send({ kind: 'latency-report' });
      latencies = latencies.concat((await receive('latencies', 10_000)).values as number[]);
    }
    const latencyCpu = totalCpu(nodes) - latencyCpuBefore;
    const lagMaxMs = Math.max(...(await Promise.all(nodes.map(eventLoopLagMaxMs))));
    latencies.sort((x, y) => x - y);

    const result = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      clients: CLIENTS,
      nodes: nodes.length,
      connectSeconds: round(connectSeconds),
      idleMemoryPerConnectionKb: round(perConnectionKb),
      broadcast: {
        messages: BROADCASTS,
        batch: BATCH,
        deliveries,
        seconds: round(broadcastSeconds),
        deliveriesPerSecond: Math.round(deliveries / broadcastSeconds),
        gatewayCpuMsPer1000Deliveries: round((broadcastCpu / deliveries) * 1000),
      },
      userEvents: {
        ratePerSecond: RATE,
        sent: total,
        received: latencies.length,
        p50Ms: round(percentile(latencies, 50)),
        p99Ms: round(percentile(latencies, 99)),
        maxMs: round(latencies.at(-1) ?? NaN),
        gatewayCpuMsPerEvent: round(latencyCpu / total),
        gatewayEventLoopLagMaxMs: round(lagMaxMs),
      },
    };
    printTable(result);
    const dir = new URL('./results/', import.meta.url).pathname;
    mkdirSync(dir, { recursive: true });
    const file = `${dir}bench-${result.date.replace(/[:.]/g, '-')}.json`;
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(`${dir}latest.json`, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`\nJSON: ${file}`);
    if (latencies.length < total) throw new Error(`only ${latencies.length} of ${total} user events arrived`);
  } finally {
    generator.send({ kind: 'exit' });
    await cluster.stop();
  }
}

const round = (n: number): number => Math.round(n * 100) / 100;

function printTable(r: {
  clients: number;
  nodes: number;
  connectSeconds: number;
  idleMemoryPerConnectionKb: number;
  broadcast: {
    deliveries: number;
    deliveriesPerSecond: number;
    gatewayCpuMsPer1000Deliveries: number;
    messages: number;
  };
  userEvents: {
    ratePerSecond: number;
    sent: number;
    received: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    gatewayEventLoopLagMaxMs: number;
  };
}): void {
  const rows: [string, string][] = [
    ['nodes / clients', `${r.nodes} / ${r.clients} (connected in ${r.connectSeconds} s)`],
    ['idle memory per connection', `${r.idleMemoryPerConnectionKb} KiB (gateway RSS growth / clients)`],
    [
      'broadcast deliveries per second',
      `${r.broadcast.deliveriesPerSecond} (${r.broadcast.messages} promotions × ${r.clients} clients)`,
    ],
    ['gateway CPU per 1,000 deliveries', `${r.broadcast.gatewayCpuMsPer1000Deliveries} ms (both nodes)`],
    [
      'user event latency p50 / p99',
      `${r.userEvents.p50Ms} / ${r.userEvents.p99Ms} ms (max ${r.userEvents.maxMs}) at ${r.userEvents.ratePerSecond}/s`,
    ],
    ['user events received', `${r.userEvents.received} / ${r.userEvents.sent}`],
    ['gateway event-loop lag, max', `${r.userEvents.gatewayEventLoopLagMaxMs} ms (during the latency phase)`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log('\nHerald benchmark');
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
