/**
 * Calm rebalancing while connections ramp up, with node processes on the real Redis and RabbitMQ: two
 * nodes running the rebalancer (intervals shortened in the default 5 : 2 ratio of
 * REBALANCE_INTERVAL_MS to NODE_HEARTBEAT_MS; margin and rate at their defaults) take thousands of
 * clients connecting round-robin, as fast as they are accepted up to MAX_RATE a second, over several
 * rebalancing rounds. The cluster is balanced all along, so no client may be asked to move or be
 * closed: not during the ramp, nor in the rounds after it.
 */
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { startCluster, type NodeProcess } from '../helpers/node-process.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const CLIENTS = 4_000;
const IN_FLIGHT = 64;
/** At most this many connects a second (about the rate measured in issue 9), so the ramp spans rounds. */
const MAX_RATE = 800;
const INTERVAL_MS = 1_000;
const HEARTBEAT_MS = 400; // 1000 : 400 = the defaults' 5000 : 2000

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** What the clients saw: reconnect frames and closes, of any client, at any time. */
interface Seen {
  reconnects: number;
  closes: number;
}

/** Opens one client on `url` and resolves on its `welcome`; counts its later reconnect frames and close. */
async function open(url: string, user: string, seen: Seen, sockets: WebSocket[]): Promise<void> {
  const ws = new WebSocket(`${url}?token=${encodeURIComponent(await mintToken(user))}`);
  sockets.push(ws);
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as { type: string };
      if (frame.type === 'welcome') resolve();
      else if (frame.type === 'reconnect') seen.reconnects++;
    });
    ws.once('close', () => {
      seen.closes++;
      reject(new Error(`client ${user} closed`));
    });
    ws.once('error', reject);
  });
}

/** A node's counters from /metrics: moves for rebalancing and rebalancing checks by outcome. */
async function counters(node: NodeProcess): Promise<{ moves: number; checks: Record<string, number> }> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const moves = Number(/herald_reconnect_requests_total\{reason="rebalance"\} (\d+)/.exec(text)?.[1] ?? 0);
  const checks: Record<string, number> = {};
  for (const [, outcome, value] of text.matchAll(/herald_rebalance_checks_total\{outcome="(\w+)"\} (\d+)/g))
    checks[outcome!] = Number(value);
  return { moves, checks };
}

const sum = (checks: Record<string, number>): number => Object.values(checks).reduce((a, b) => a + b, 0);

describe('calm rebalancing', () => {
  it('when clients ramp up round-robin onto two balanced nodes, then nobody is moved or closed, during the ramp or after it', async () => {
    const cluster = await startCluster(2, {
      REBALANCE_INTERVAL_MS: String(INTERVAL_MS),
      NODE_HEARTBEAT_MS: String(HEARTBEAT_MS),
    });
    cleanups.push(() => cluster.stop());
    const seen: Seen = { reconnects: 0, closes: 0 };
    const sockets: WebSocket[] = [];
    cleanups.push(() => {
      for (const ws of sockets) ws.terminate();
    });
    const urls = cluster.nodes.map((n) => n.wsUrl);

    // Round-robin by client number, IN_FLIGHT connecting at any moment, client i not before
    // i / MAX_RATE seconds into the ramp (the load's shape, not a wait for a condition).
    const checksBefore = await Promise.all(cluster.nodes.map(async (n) => sum((await counters(n)).checks)));
    const started = Date.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < CLIENTS) {
        const i = next++;
        const early = started + (i * 1000) / MAX_RATE - Date.now();
        if (early > 0) await new Promise((resolve) => setTimeout(resolve, early));
        await open(urls[i % urls.length]!, `ramp-${i}`, seen, sockets);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const rampMs = Date.now() - started;

    // Rounds that follow the ramp see its end (the total stops changing) and then the steady state:
    // wait until each node has checked four more times.
    const after = await Promise.all(cluster.nodes.map(async (n) => sum((await counters(n)).checks)));
    const duringRamp = after.map((checks, i) => checks - checksBefore[i]!);
    await waitFor(
      async () => {
        const now = await Promise.all(cluster.nodes.map(async (n) => sum((await counters(n)).checks)));
        return now.every((checks, i) => checks >= after[i]! + 4);
      },
      'four rebalancing checks on each node after the ramp',
      20 * INTERVAL_MS,
      100,
    );
    const final = await Promise.all(cluster.nodes.map((n) => counters(n)));
    console.log(
      `[rebalance-ramp] clients=${CLIENTS} rampMs=${rampMs} rate=${Math.round((CLIENTS * 1000) / rampMs)}/s`,
      `checksDuringRamp=${duringRamp.join('/')}`,
      `moves=${final.map((f) => f.moves).join('/')} reconnectFrames=${seen.reconnects} closes=${seen.closes}`,
      `checks=${final.map((f) => JSON.stringify(f.checks)).join(' ')}`,
    );
    expect(final.map((f) => f.moves)).toEqual([0, 0]);
    expect(seen).toEqual({ reconnects: 0, closes: 0 });
    expect(sockets.filter((ws) => ws.readyState === WebSocket.OPEN)).toHaveLength(CLIENTS);
    // The ramp spanned several rounds, so the rebalancer had its chances to get it wrong.
    for (const checks of duringRamp) expect(checks).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
