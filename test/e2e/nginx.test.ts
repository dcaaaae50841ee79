/**
 * A real nginx (infra/nginx/nginx.conf, rendered with 127.0.0.1 upstreams) in front of three node
 * processes on the machine's Redis and RabbitMQ. SDK clients connect through nginx's /ws and the
 * backend publishes through nginx's REST: least connections spreads the clients evenly; a node killed
 * and another drained (SIGTERM) while messages flow cost no message; the access log never holds a token.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTally, publishStream, type Accepted, settle } from '../helpers/fault-stream.js';
import { ensureLoadBalancers, startHaproxy, startNginx, type NginxProcess } from '../helpers/nginx.js';
import { startCluster, type NodeProcess, type TestCluster } from '../helpers/node-process.js';
import { connectClients, type Departure, type Probe } from '../helpers/probes.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const CLIENTS = 300;
const MESSAGES = 1_000;
const PUBLISHERS = 8;
const DRAIN_WINDOW_MS = 3_000;
const SHUTDOWN_TIMEOUT_MS = 10_000;

let cluster: TestCluster;
let lb: NginxProcess;
const departures: Departure[] = [];
let clients: { probes: Probe[]; close: () => void } | undefined;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  ensureLoadBalancers();
  cluster = await startCluster(3, {
    HISTORY_PROMOTIONS_MAX_MESSAGES: '2000',
    DRAIN_WINDOW_MS: String(DRAIN_WINDOW_MS),
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    // The spread measured is nginx's own: the nodes do not move clients by themselves here.
    REBALANCE_INTERVAL_MS: '0',
  });
  cleanups.push(() => cluster.stop());
  lb = await startNginx(cluster.nodes.map((n) => n.port));
  cleanups.push(() => lb.stop());
}, 600_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** The 300 SDK clients, connected through nginx once and shared by the tests below. */
async function sdkClients(): Promise<Probe[]> {
  if (clients === undefined) {
    clients = await connectClients(lb.wsUrl, 'ngx', CLIENTS, 0, departures);
    cleanups.push(clients.close);
  }
  return clients.probes;
}

function perNode(probes: Probe[], nodes: NodeProcess[]): Record<string, number> {
  return Object.fromEntries(nodes.map((n) => [n.id, probes.filter((p) => p.node() === n.id).length]));
}

describe('nginx in front of three nodes', () => {
  it('when 300 SDK clients connect through nginx, then least connections gives each node its third, within 15 %', async () => {
    const probes = await sdkClients();
    const counts = perNode(probes, cluster.nodes);
    console.log(
      `[nginx:spread] clients=${CLIENTS} ${Object.entries(counts)
        .map(([id, n]) => `${id}=${n}`)
        .join(' ')}`,
    );
    const values = Object.values(counts);
    expect(values.reduce((a, b) => a + b)).toBe(CLIENTS);
    const average = CLIENTS / cluster.nodes.length;
    for (const n of values) {
      expect(n).toBeGreaterThanOrEqual(average * 0.85);
      expect(n).toBeLessThanOrEqual(average * 1.15);
    }
  });

  it('when 60 SDK clients connect through HAProxy (infra/haproxy/haproxy.cfg), then leastconn spreads them and its log holds no token', async () => {
    const haproxy = await startHaproxy(cluster.nodes.map((n) => n.port));
    cleanups.push(() => haproxy.stop());
    const { probes, close } = await connectClients(haproxy.wsUrl, 'hap', 60, 0);
    cleanups.push(close);
    const counts = perNode(probes, cluster.nodes);
    const token = await mintToken('hap-query');
    const ws = new WebSocket(`${haproxy.wsUrl}?token=${token}`);
    const first = await new Promise<{ type: string }>((resolve, reject) => {
      ws.once('message', (data: Buffer) => resolve(JSON.parse(data.toString()) as { type: string }));
      ws.once('error', reject);
    });
    expect(first.type).toBe('welcome');
    ws.close();
    close();
    // HAProxy logs a tunnel's line when it ends.
    const log = await waitFor(
      () => {
        const lines = haproxy
          .output()
          .split('\n')
          .filter((l) => l.includes('"GET /ws HTTP/1.1"'));
        return lines.length >= 61 ? haproxy.output() : undefined;
      },
      "HAProxy's /ws log lines",
      10_000,
      50,
    );
    console.log(
      `[haproxy:spread] clients=60 ${Object.entries(counts)
        .map(([id, n]) => `${id}=${n}`)
        .join(
          ' ',
        )} wsLogLines=${log.split('\n').filter((l) => l.includes('"GET /ws HTTP/1.1"')).length} token=${
        (log.match(/token=/g) ?? []).length
      }`,
    );
    for (const n of Object.values(counts)) {
      expect(n).toBeGreaterThanOrEqual(20 * 0.85);
      expect(n).toBeLessThanOrEqual(20 * 1.15);
    }
    expect(log).toMatch(/ 101 .*"GET \/ws HTTP\/1\.1"/);
    expect(log).not.toContain('token=');
    expect(log).not.toContain(token);
    await haproxy.stop();
  });

  it('when one node is SIGKILLed and another drained with SIGTERM while 1000 messages flow through nginx, then every client ends with every message once, in order', async () => {
    const probes = await sdkClients();
    const [killed, drained, survivor] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
    let drainStarted = 0;
    let drainedExit: Promise<number | null> | undefined;
    let killedAt = 0;
    const accepted: Accepted[] = await publishStream({
      urls: () => [lb.url], // every publish goes through nginx, retried there with its Idempotency-Key
      userChannels: probes.map((p) => p.channels[0]!),
      total: MESSAGES,
      concurrency: PUBLISHERS,
      onAccepted: async (count) => {
        // The SIGKILL lands mid-stream: publishes are in flight inside the killed node, some cut off
        // after their message was stored. Their retries (through nginx, same Idempotency-Key, once the
        // dead node's claim lapses) store nothing again: they answer the stored message's offset.
        if (count === 300) {
          killed.child.kill('SIGKILL');
          killedAt = count;
        }
        if (count === 600) {
          drainStarted = Date.now();
          drained.child.kill('SIGTERM');
          drainedExit = drained.exited;
        }
        // Load shape, not a wait for a state: the last 400 messages are spread over the drain window
        // and a second beyond, so they flow while the drained node's clients are moving.
        if (count > 600) {
          const due = drainStarted + ((count - 600) * (DRAIN_WINDOW_MS + 1_000)) / (MESSAGES - 600);
          await waitFor(() => Date.now() >= due, 'the next slot of the stream', DRAIN_WINDOW_MS + 5_000);
        }
      },
    });
    expect(drainedExit).toBeDefined();
    const code = await drainedExit!;
    const drainMs = Date.now() - drainStarted;
    expect(code).toBe(0); // a graceful exit, within SHUTDOWN_TIMEOUT_MS

    const t = await settle(probes, accepted, 30_000);
    const sum = (f: (c: ReturnType<Probe['counters']>) => number): number =>
      probes.reduce((n, p) => n + f(p.counters()), 0);
    const left = (node: NodeProcess): number => departures.filter((d) => d.node === node.id).length;
    console.log(
      formatTally('nginx', t, {
        killedAt,
        retried: accepted.filter((a) => (a.attempts ?? 1) > 1).length,
        waitedOnClaim: accepted.filter((a) => (a.inProgress ?? 0) > 0).length,
        leftKilled: left(killed),
        leftDrained: left(drained),
        onSurvivor: probes.filter((p) => p.node() === survivor.id).length,
        drainExitMs: drainMs,
        wireDuplicatesDropped: sum((c) => c.dropped),
        reconnects: sum((c) => c.reconnects),
        resumes: sum((c) => c.resumes),
      }),
    );
    expect(t).toMatchObject({ sent: MESSAGES, gaps: 0, duplicates: 0, outOfOrder: 0, notRecovered: 0 });
    expect(t.received).toBe(t.expected);
    expect(drainMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    // Everyone ended on the one node left, through nginx.
    await waitFor(() => probes.every((p) => p.node() === survivor.id), 'every client on the survivor');
  }, 90_000);

  it('when a client sends its token in the query string, then nginx logs /ws without it', async () => {
    await sdkClients();
    const token = await mintToken('ngx-query');
    const ws = new WebSocket(`${lb.wsUrl}?token=${token}`, { headers: { 'user-agent': 'ngx-query-probe' } });
    const first = await new Promise<{ type: string }>((resolve, reject) => {
      ws.once('message', (data: Buffer) => resolve(JSON.parse(data.toString()) as { type: string }));
      ws.once('error', reject);
    });
    expect(first.type).toBe('welcome');
    ws.close();
    // nginx writes a WebSocket's line when the tunnel ends.
    const log = await waitFor(
      () => {
        const text = lb.accessLog();
        return text.includes('ua="ngx-query-probe"') ? text : undefined;
      },
      'the /ws lines in the access log',
      10_000,
      50,
    );
    const lines = log.split('\n').filter((l) => l !== '');
    const wsLines = lines.filter((l) => l.includes('"GET /ws HTTP/1.1" 101 '));
    expect(lines.find((l) => l.includes('ngx-query-probe'))).toContain('"GET /ws HTTP/1.1" 101 ');
    const restLines = lines.filter((l) => l.includes('"POST /v1/publish HTTP/1.1" 202 '));
    console.log(
      `[nginx:log] lines=${lines.length} ws101=${wsLines.length} publish202=${restLines.length} token=${
        (log.match(/token=/g) ?? []).length
      } errorLogToken=${(lb.errorLog().match(/token=/g) ?? []).length}`,
    );
    expect(wsLines.length).toBeGreaterThan(0);
    expect(restLines.length).toBeGreaterThanOrEqual(MESSAGES);
    expect(log).not.toContain('token=');
    expect(log).not.toContain(token);
    expect(lb.errorLog()).not.toContain('token=');
  });
});
