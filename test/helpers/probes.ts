/**
 * Clients under test for the fault and balancing tests: SDK clients (shared/client) and clients written
 * from docs/protocol.md alone (raw-client.ts), seen through one interface that records, per channel,
 * the offsets their app received.
 */
import WebSocket from 'ws';
import { HeraldClient } from '../../shared/client/index.js';
import type { Received } from './fault-stream.js';
import { RawClient } from './raw-client.js';
import { mintToken } from './tokens.js';
import { waitFor } from './wait.js';

/** One client under test, SDK or raw, seen the same way. */
export interface Probe {
  kind: 'sdk' | 'raw';
  channels: string[];
  received: Received;
  node(): string | undefined;
  ready(): boolean;
  counters(): { dropped: number; reconnects: number; resumes: number };
  close(): void;
}

/** Every time a client left a node (connection lost or asked to move), with that node. */
export interface Departure {
  node: string;
  at: number;
}

/**
 * `count` SDK clients and `rawCount` raw ones, one per user, all through the balancer, each holding its
 * user channel and promotions.
 */
export async function connectClients(
  wsUrl: string,
  tag: string,
  count: number,
  rawCount: number,
  departures: Departure[] = [],
): Promise<{ probes: Probe[]; close: () => void }> {
  const probes: Probe[] = [];
  for (let i = 0; i < count; i++) {
    const user = `${tag}-${i}`;
    const channels = [`user:${user}`, 'promotions'];
    const client = new HeraldClient({
      url: wsUrl,
      token: () => mintToken(user),
      WebSocket,
      minReconnectDelayMs: 200,
      maxReconnectDelayMs: 2_000,
    });
    const received: Received = { offsets: new Map(), dropped: 0, notRecovered: 0 };
    client.on('message', (m) => {
      const list = received.offsets.get(m.channel) ?? [];
      list.push(m.offset);
      received.offsets.set(m.channel, list);
    });
    client.on('recovery', (e) => {
      if (e.refetch) received.notRecovered++;
    });
    let node: string | undefined;
    client.on('state', (change) => {
      if (change.state === 'connected') node = change.welcome?.node;
      else if (change.previous === 'connected' && node !== undefined)
        departures.push({ node, at: Date.now() });
    });
    for (const channel of channels) client.subscribe(channel);
    client.connect();
    probes.push({
      kind: 'sdk',
      channels,
      received,
      node: () => client.node,
      ready: () => channels.every((c) => client.subscription(c)?.state === 'subscribed'),
      counters: () => ({
        dropped: client.stats.duplicatesDropped,
        reconnects: client.stats.reconnects,
        resumes: client.stats.resumes,
      }),
      close: () => client.close(),
    });
  }
  for (let i = 0; i < rawCount; i++) {
    const user = `${tag}-raw-${i}`;
    const channels = [`user:${user}`, 'promotions'];
    const raw = new RawClient({
      urls: [wsUrl],
      token: () => mintToken(user),
      channels,
      minBackoffMs: 200,
      maxBackoffMs: 2_000,
    });
    const received: Received = {
      offsets: new Map(),
      dropped: 0,
      notRecovered: 0,
    };
    void raw.start().catch(() => undefined); // readiness is polled below
    probes.push({
      kind: 'raw',
      channels,
      get received(): Received {
        received.offsets = new Map([...raw.delivered].map(([c, list]) => [c, list.map((m) => m.offset)]));
        received.dropped = raw.duplicatesDropped;
        received.notRecovered = raw.notRecovered.length;
        return received;
      },
      node: () => raw.nodes.at(-1),
      ready: () => raw.connected(),
      counters: () => ({ dropped: raw.duplicatesDropped, reconnects: raw.reconnects, resumes: raw.resumes }),
      close: () => void raw.close(),
    });
  }
  const close = (): void => {
    for (const p of probes) p.close();
  };
  await waitFor(
    () => probes.every((p) => p.ready()),
    `${probes.length} clients subscribed`,
    60_000,
    50,
  ).catch((err: unknown) => {
    close();
    throw err;
  });
  return { probes, close };
}
