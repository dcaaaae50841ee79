/**
 * Fault tests of "nothing lost": separate node processes on the machine's real Redis and RabbitMQ,
 * hundreds of SDK clients behind a TCP balancer, a stream of user events and promotions, and a fault
 * in the middle of it. Each test prints sent / received / duplicates / gaps; every client must end
 * with every message of its channels exactly once, in offset order.
 */
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { HeraldClient } from '../../shared/client/index.js';
import { formatTally, publishStream, settle as settleStream } from '../helpers/fault-stream.js';
import { startCluster, type TestCluster } from '../helpers/node-process.js';
import { connectClients as connectProbes, type Probe } from '../helpers/probes.js';
import { publish } from '../helpers/rest-http.js';
import { TcpBalancer } from '../helpers/tcp-balancer.js';
import { AMQP_ADDRESS, AMQP_URL, through } from '../helpers/backends.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const CLIENTS = 300;
/** Clients written from docs/protocol.md alone (test/helpers/raw-client.ts), alongside the SDK ones. */
const RAW_CLIENTS = 30;
const MESSAGES = 1_000;

const cleanups = cleanupAfterEach();

async function connectClients(wsUrl: string, tag: string, count: number): Promise<Probe[]> {
  const { probes, close } = await connectProbes(wsUrl, tag, count, RAW_CLIENTS);
  cleanups.push(close);
  return probes;
}

async function cluster3(env: Record<string, string> = {}): Promise<TestCluster> {
  const cluster = await startCluster(3, env);
  cleanups.push(() => cluster.stop());
  return cluster;
}

async function balancer(cluster: TestCluster): Promise<TcpBalancer> {
  const lb = await TcpBalancer.start(cluster.nodes.map((n) => n.port));
  cleanups.push(() => lb.close());
  return lb;
}

/** Waits until every probe has every expected message, then tallies and prints. */
async function settleAndPrint(
  name: string,
  probes: Probe[],
  accepted: Awaited<ReturnType<typeof publishStream>>,
) {
  const t = await settleStream(probes, accepted);
  const sum = (f: (c: ReturnType<Probe['counters']>) => number): number =>
    probes.reduce((n, p) => n + f(p.counters()), 0);
  console.log(
    formatTally(name, t, {
      rawClients: probes.filter((p) => p.kind === 'raw').length,
      wireDuplicatesDropped: sum((c) => c.dropped),
      reconnects: sum((c) => c.reconnects),
      resumes: sum((c) => c.resumes),
    }),
  );
  return t;
}

describe('fault tests: nothing lost', () => {
  it('when one of three nodes is SIGKILLed during a stream, then every client ends with every message once, in order', async () => {
    // Promotions keep 100 messages by default; the stream has 334, and the victim's clients must be
    // able to recover all they missed while reconnecting (a shorter retention answers recovered:false).
    const cluster = await cluster3({ HISTORY_PROMOTIONS_MAX_MESSAGES: '1000' });
    const lb = await balancer(cluster);
    const probes = await connectClients(`ws://127.0.0.1:${lb.port}/ws`, 'k', CLIENTS);
    const victim = cluster.nodes[1]!;
    const onVictim = probes.filter((p) => p.node() === victim.id).length;
    expect(onVictim).toBeGreaterThan(probes.length / 6);

    const live = new Set(cluster.nodes);
    const accepted = await publishStream({
      urls: () => [...live].map((n) => n.url),
      userChannels: probes.map((p) => p.channels[0]!),
      total: MESSAGES,
      onAccepted: (count) => {
        if (count === 300) {
          victim.child.kill('SIGKILL');
          live.delete(victim);
        }
      },
    });
    const t = await settleAndPrint('sigkill', probes, accepted);
    expect(t).toMatchObject({ sent: MESSAGES, gaps: 0, duplicates: 0, outOfOrder: 0, notRecovered: 0 });
    expect(t.received).toBe(t.expected);
    // The victim's clients moved to the survivors.
    expect(probes.every((p) => p.node() !== victim.id)).toBe(true);
  }, 150_000);

  it("when one node's bus link is cut for a few seconds during a stream, then every client ends with every message once, in order", async () => {
    const proxy = await TcpProxy.start(AMQP_ADDRESS);
    cleanups.push(() => proxy.close());
    const cluster = await startCluster(2);
    cleanups.push(() => cluster.stop());
    const cut = await cluster.start(`${cluster.nodes[0]!.id}-cut`, {
      AMQP_URL: through(AMQP_URL, proxy),
    });
    const lb = await balancer(cluster);
    const probes = await connectClients(`ws://127.0.0.1:${lb.port}/ws`, 'b', CLIENTS);
    expect(probes.filter((p) => p.node() === cut.id).length).toBeGreaterThan(probes.length / 6);

    let restored: Promise<void> | undefined;
    const accepted = await publishStream({
      urls: () => cluster.nodes.map((n) => n.url),
      userChannels: probes.map((p) => p.channels[0]!),
      total: MESSAGES,
      onAccepted: (count) => {
        if (count !== 300) return;
        proxy.refuse();
        proxy.cut();
        // Back after 3 s: clients on that node keep their sockets meanwhile and miss the stream.
        restored = new Promise((resolve) =>
          setTimeout(() => {
            proxy.accept();
            resolve();
          }, 3_000),
        );
      },
    });
    await restored;
    const t = await settleAndPrint('bus-cut', probes, accepted);
    expect(t).toMatchObject({ sent: MESSAGES, gaps: 0, duplicates: 0, outOfOrder: 0, notRecovered: 0 });
    expect(t.received).toBe(t.expected);
  }, 150_000);
});

describe('SDK clients offline, and retried publishes', () => {
  /** An SDK client recording what its app got, resuming `session` from `positions` if given. */
  function sdkClient(url: string, user: string, from?: { session: string; offset: number; epoch: string }) {
    const client = new HeraldClient({
      url,
      token: () => mintToken(user),
      WebSocket,
      ...(from === undefined ? {} : { session: from.session }),
    });
    const data: unknown[] = [];
    const refetch: number[] = [];
    client.on('message', (m) => data.push(m.data));
    client.on('recovery', (e) => e.refetch && refetch.push(e.offset));
    client.subscribe(`user:${user}`, from && { offset: from.offset, epoch: from.epoch });
    client.connect();
    cleanups.push(() => client.close());
    return { client, data, refetch };
  }

  it('when an SDK client is away within retention it gets everything it missed; beyond retention it is told to refetch', async () => {
    const cluster = await startCluster(2, { HISTORY_USER_MAX_MESSAGES: '5' });
    cleanups.push(() => cluster.stop());
    const [a, b] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const first = sdkClient(a.wsUrl, 'off-1');
    await waitFor(() => first.client.subscription('user:off-1')?.state === 'subscribed', 'subscribed');
    await publish(a, 'user:off-1', 1);
    await waitFor(() => first.data.length === 1, 'the first message');
    const leave = () => ({ session: first.client.session!, ...first.client.position('user:off-1')! });

    // Within retention: 3 missed, the app comes back on the other node with its session and position.
    const away = leave();
    first.client.close();
    for (const n of [2, 3, 4]) await publish(b, 'user:off-1', n);
    const within = sdkClient(b.wsUrl, 'off-1', away);
    await publish(b, 'user:off-1', 5);
    await waitFor(() => within.data.length === 4, 'the missed and the live messages');
    expect(within.data).toEqual([2, 3, 4, 5]);
    expect(within.refetch).toEqual([]);
    expect(within.client.stats.resumes).toBe(1);

    // Beyond retention: 8 missed with 5 kept; the app is told, then gets what follows.
    const gone = { session: within.client.session!, ...within.client.position('user:off-1')! };
    within.client.close();
    for (let n = 6; n <= 13; n++) await publish(a, 'user:off-1', n);
    const beyond = sdkClient(a.wsUrl, 'off-1', gone);
    await waitFor(() => beyond.refetch.length === 1, 'the refetch report');
    expect(beyond.refetch).toEqual([13]);
    await publish(a, 'user:off-1', 14);
    await waitFor(() => beyond.data.length === 1, 'the next live message');
    expect(beyond.data).toEqual([14]);
    console.log(
      `[fault:offline] within: sent=4 received=${within.data.length} refetch=${within.refetch.length}; beyond: missed=8 (5 retained) refetch=${beyond.refetch.length}, then live sent=1 received=${beyond.data.length}`,
    );
  });

  it('when a backend sends the same publish three times with one Idempotency-Key, then SDK clients get one message', async () => {
    const cluster = await startCluster(2);
    cleanups.push(() => cluster.stop());
    const [a, b] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const c = sdkClient(b.wsUrl, 'idem-1');
    await waitFor(() => c.client.subscription('user:idem-1')?.state === 'subscribed', 'subscribed');
    const once = { idempotencyKey: 'order-42-shipped' };
    const offsets = [
      (await publish(a, 'user:idem-1', 'once', once)).offset,
      (await publish(b, 'user:idem-1', 'once', once)).offset,
      (await publish(a, 'user:idem-1', 'once', once)).offset,
    ];
    expect(offsets).toEqual([1, 1, 1]);
    await publish(a, 'user:idem-1', 'marker');
    await waitFor(() => c.data.length === 2, 'the marker');
    expect(c.data).toEqual(['once', 'marker']);
    console.log(`[fault:idempotency] sent=3 (one key) + 1 marker received=${c.data.length} duplicates=0`);
  });
});
