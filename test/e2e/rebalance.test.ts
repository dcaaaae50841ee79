/**
 * Active rebalancing after a scale-out, with node processes on the real Redis and RabbitMQ: two nodes
 * hold 600 SDK clients behind a least-connections balancer, a third node starts; the full nodes shed
 * clients at no more than REBALANCE_MAX_PER_SECOND each until all three hold their share, and a
 * stream published meanwhile reaches every client exactly once, in order.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { formatTally, publishStream, settle } from '../helpers/fault-stream.js';
import { startCluster, type TestCluster } from '../helpers/node-process.js';
import { connectClients, type Departure, type Probe } from '../helpers/probes.js';
import { TcpBalancer } from '../helpers/tcp-balancer.js';
import { waitFor } from '../helpers/wait.js';

const CLIENTS = 600;
const CAP_PER_SECOND = 20;

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** Clients per node now (by the node each one is connected to). */
function spread(probes: Probe[], nodes: string[]): number[] {
  return nodes.map((id) => probes.filter((p) => p.node() === id).length);
}

/** One read of a node's rebalance counter, with when the request left and when the answer came. */
interface Sample {
  start: number;
  end: number;
  moves: number;
}

/** Reads `url`'s rebalance counter every 50 ms until `stop` is called. */
function sampleMoves(url: string): { samples: Sample[]; stop: () => Promise<void> } {
  const samples: Sample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const start = Date.now();
      const text = await (await fetch(`${url}/metrics`)).text();
      const moves = Number(
        /herald_reconnect_requests_total\{reason="rebalance"\} (\d+)/.exec(text)?.[1] ?? 0,
      );
      samples.push({ start, end: Date.now(), moves });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    samples,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/**
 * The most moves the node made within any one second, as the server counted them: for two reads i < j
 * whose requests span at most 1 s (j's answer minus i's request), every move between the two counter
 * reads happened inside that span.
 */
function serverPeak(samples: Sample[]): number {
  let peak = 0;
  for (let i = 0; i < samples.length; i++) {
    for (let j = i + 1; j < samples.length && samples[j]!.end - samples[i]!.start <= 1_000; j++) {
      peak = Math.max(peak, samples[j]!.moves - samples[i]!.moves);
    }
  }
  return peak;
}

/** Most departures from one node inside any one-second window. */
function peakRate(departures: Departure[], node: string): number {
  const times = departures
    .filter((d) => d.node === node)
    .map((d) => d.at)
    .sort((a, b) => a - b);
  let peak = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= 1_000) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}

describe('active rebalancing', () => {
  it('when a third node joins two full ones, then within a minute all three hold their share, at the capped rate, losing nothing', async () => {
    const cluster: TestCluster = await startCluster(2, {
      REBALANCE_INTERVAL_MS: '1000',
      REBALANCE_MAX_PER_SECOND: String(CAP_PER_SECOND),
      REBALANCE_MARGIN_PERCENT: '10',
      HISTORY_PROMOTIONS_MAX_MESSAGES: '2000',
    });
    cleanups.push(() => cluster.stop());
    const lb = await TcpBalancer.start(
      cluster.nodes.map((n) => n.port),
      'least-connections',
    );
    cleanups.push(() => lb.close());
    const departures: Departure[] = [];
    const { probes, close } = await connectClients(
      `ws://127.0.0.1:${lb.port}/ws`,
      'rb',
      CLIENTS,
      0,
      departures,
    );
    cleanups.push(close);
    const before = spread(
      probes,
      cluster.nodes.map((n) => n.id),
    );
    expect(before.reduce((a, b) => a + b)).toBe(CLIENTS);

    // Scale out while a stream flows.
    let joined = 0;
    const stream = publishStream({
      urls: () => cluster.nodes.map((n) => n.url),
      userChannels: probes.map((p) => p.channels[0]!),
      total: 600,
      concurrency: 2,
    });
    const samplers = cluster.nodes.map((n) => sampleMoves(n.url));
    const third = await cluster.start(`${cluster.nodes[0]!.id.replace(/-n1$/, '')}-n3`);
    lb.add(third.port);
    const started = Date.now();
    const ids = cluster.nodes.map((n) => n.id);
    const average = CLIENTS / 3;
    await waitFor(
      () => {
        const counts = spread(probes, ids);
        joined = counts[2]!;
        return (
          counts.reduce((a, b) => a + b) === CLIENTS &&
          counts.every((c) => Math.abs(c - average) <= average * 0.15)
        );
      },
      'all three nodes within ±15 % of the average',
      60_000,
      100,
    );
    const balancedAfterMs = Date.now() - started;
    const after = spread(probes, ids);
    // Watch the rate a little longer, then stop reading the counters.
    await waitFor(
      () => Date.now() - started > balancedAfterMs + 2_000,
      'two more seconds of counters',
      5_000,
      100,
    );
    for (const sampler of samplers) await sampler.stop();
    const serverPeaks = samplers.map((s) => serverPeak(s.samples));

    const accepted = await stream;
    const t = await settle(probes, accepted, 60_000);
    const peaks = ids.map((id) => peakRate(departures, id));
    console.log(
      formatTally('rebalance', t, {
        balancedAfterMs,
        moved: departures.length,
        serverPeakPerSecondNode1: serverPeaks[0]!,
        serverPeakPerSecondNode2: serverPeaks[1]!,
        clientSeenPeakNode1: peaks[0]!,
        clientSeenPeakNode2: peaks[1]!,
      }),
      `before=${before.join('/')} after=${after.join('/')} joined=${joined}`,
    );
    expect(t).toMatchObject({ gaps: 0, duplicates: 0, outOfOrder: 0, notRecovered: 0 });
    expect(t.received).toBe(t.expected);
    // The cap, as the nodes counted their moves (clients see the frames with network and event-loop
    // jitter, so their one-second windows can hold a frame more; those peaks are printed only).
    for (const peak of serverPeaks.slice(0, 2)) expect(peak).toBeLessThanOrEqual(CAP_PER_SECOND);
    expect(serverPeaks[0]! + serverPeaks[1]!).toBeGreaterThan(0);
    expect(peaks[2]).toBe(0); // the new node never shed
  }, 150_000);
});
