/**
 * The RabbitMQ bus against the machine's RabbitMQ: the Bus contract suite on three buses sharing one
 * exchange, then broker outages played through a TCP proxy per node (the shared broker is never
 * touched). Every test declares its own exchange and queues and deletes them through a separate
 * connection afterwards.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import amqplib, { type ChannelModel } from 'amqplib';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BusUnavailableError } from '../../shared/bus/bus.js';
import {
  RabbitMqBus,
  coalesceFrameWrites,
  spreadIndex,
  type RabbitMqBusOptions,
} from '../../shared/bus/rabbitmq-bus.js';
import { busContract } from '../contracts/bus.contract.js';
import { countSocketWrites, type SocketWrites } from '../helpers/socket-writes.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

import { AMQP_ADDRESS, AMQP_URL } from '../helpers/backends.js';
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const NODE_IDS = ['n1', 'n2', 'n3'];
/** How long after publishTimeoutMs a rejected publish may still take (timers, a loaded machine). */
const MARGIN_MS = 1_000;
const RECOVERY_DEADLINE_MS = 15_000;

function uniqueExchange(): string {
  return `herald-test.bus.${randomBytes(4).toString('hex')}`;
}

function makeBus(url: string, exchange: string, nodeId: string, options: Partial<RabbitMqBusOptions> = {}) {
  return new RabbitMqBus({
    url,
    exchange,
    nodeId,
    prefetch: 100,
    queueMaxLength: 10_000,
    queueExpiresMs: 60_000,
    publishTimeoutMs: 5_000,
    log: log.child({ nodeId }),
    ...options,
  });
}

/** Runs `use` on a channel of a connection of its own (the buses may be closed or cut off). */
async function withAdminChannel(use: (channel: amqplib.Channel) => Promise<void>): Promise<void> {
  const connection = await amqplib.connect(AMQP_URL);
  connection.on('error', (err: Error) => log.warn({ err }, 'admin connection error'));
  try {
    const channel = await connection.createChannel();
    channel.on('error', (err: Error) => log.warn({ err }, 'admin channel error'));
    await use(channel);
  } finally {
    await connection.close();
  }
}

/** Deletes the test's queues and exchange. */
async function deleteTopology(exchange: string, nodeIds: string[]): Promise<void> {
  await withAdminChannel(async (channel) => {
    for (const nodeId of nodeIds) await channel.deleteQueue(`${exchange}.${nodeId}`);
    await channel.deleteExchange(exchange);
    await channel.deleteExchange(`${exchange}.direct`);
  });
}

/** The broker URL with its host and port replaced by the proxy's. */
function viaProxy(proxy: TcpProxy): string {
  const url = new URL(AMQP_URL);
  url.hostname = proxy.host;
  url.port = String(proxy.port);
  return url.toString();
}

function text(value: string): Buffer {
  return Buffer.from(value);
}

function received(inbox: Buffer[], value: string): number {
  return inbox.filter((payload) => payload.toString() === value).length;
}

busContract('RabbitMQ (3 buses on one unique exchange)', () => {
  const exchange = uniqueExchange();
  const nodes = NODE_IDS.map((nodeId) => makeBus(AMQP_URL, exchange, nodeId));
  return Promise.resolve({
    nodes,
    ids: NODE_IDS,
    close: async () => {
      await Promise.all(nodes.map((node) => node.close()));
      await deleteTopology(exchange, NODE_IDS);
    },
  });
});

describe('RabbitMQ bus: broker outages (one TCP proxy per node)', () => {
  const PUBLISH_TIMEOUT_MS = 2_000;
  let exchange: string;
  let proxies: TcpProxy[];
  let nodes: RabbitMqBus[];
  let inboxes: Buffer[][];

  beforeEach(async () => {
    exchange = uniqueExchange();
    proxies = await Promise.all(NODE_IDS.map(() => TcpProxy.start(AMQP_ADDRESS)));
    nodes = NODE_IDS.map((nodeId, i) =>
      makeBus(viaProxy(proxies[i]!), exchange, nodeId, { publishTimeoutMs: PUBLISH_TIMEOUT_MS }),
    );
    inboxes = nodes.map(() => []);
    await Promise.all(nodes.map((node, i) => node.start((payload) => inboxes[i]!.push(payload))));
  });

  afterEach(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await deleteTopology(exchange, NODE_IDS);
  });

  async function cutAll(): Promise<void> {
    for (const proxy of proxies) {
      proxy.refuse();
      proxy.cut();
    }
    await waitFor(() => nodes.every((node) => !node.ready), 'every node to notice the cut');
  }

  /** Every node publishes `<tag>-from-<i>`; resolves once every node has every one of them. */
  async function expectAllToAll(tag: string): Promise<void> {
    await Promise.all(nodes.map((node, i) => node.publish(text(`${tag}-from-${i}`))));
    const expected = nodes.map((_, i) => `${tag}-from-${i}`);
    await waitFor(
      () => inboxes.every((inbox) => expected.every((value) => received(inbox, value) > 0)),
      `every node to receive every ${tag} payload`,
    );
    for (const inbox of inboxes) for (const value of expected) expect(received(inbox, value)).toBe(1);
  }

  it('when the broker link is cut, then every node turns unready and a publish rejects with BusUnavailableError within publishTimeoutMs', async () => {
    await expectAllToAll('before');
    await cutAll();

    const started = Date.now();
    const outcome = await nodes[0]!.publish(text('during-outage')).then(
      () => 'resolved',
      (err: unknown) => err,
    );
    const elapsed = Date.now() - started;

    expect(outcome).toBeInstanceOf(BusUnavailableError);
    expect(elapsed).toBeGreaterThanOrEqual(PUBLISH_TIMEOUT_MS - 50); // it waited for recovery first
    expect(elapsed).toBeLessThan(PUBLISH_TIMEOUT_MS + MARGIN_MS);
    for (const node of nodes) expect(node.ready).toBe(false);
  });

  it('when the link returns after an outage, then every node recovers by itself and publishes from every node reach every node again', async () => {
    await cutAll();
    // Let every node fail at least one reconnect attempt, so recovery has to retry.
    await waitFor(() => proxies.every((proxy) => proxy.refused > 0), 'a refused reconnect per node');
    for (const proxy of proxies) proxy.accept();

    await waitFor(() => nodes.every((node) => node.ready), 'every node to recover', RECOVERY_DEADLINE_MS);
    await expectAllToAll('after');
    // The topology was declared again on fresh connections, not left over from the old ones.
    for (const proxy of proxies) expect(proxy.connections).toBe(1);
  });

  it('when publishes are issued during a cut shorter than publishTimeoutMs, then they resolve after recovery and arrive in order', async () => {
    await cutAll();
    const started = Date.now();
    const held = ['held-1', 'held-2', 'held-3', 'held-4', 'held-5'];
    const publishing = held.map((value) => nodes[1]!.publish(text(value)));
    for (const proxy of proxies) proxy.accept();

    await expect(Promise.all(publishing)).resolves.toBeDefined();
    expect(Date.now() - started).toBeLessThan(PUBLISH_TIMEOUT_MS);
    await waitFor(
      () => inboxes.every((inbox) => held.every((value) => received(inbox, value) > 0)),
      'every node to receive the held payloads',
    );
    for (const inbox of inboxes) {
      const texts = inbox.map((payload) => payload.toString()).filter((value) => value.startsWith('held-'));
      expect(texts).toEqual(held);
    }
  });

  it('when one node’s link is cut for a while, then what the others published meanwhile reaches it after recovery', async () => {
    proxies[2]!.refuse();
    proxies[2]!.cut();
    await waitFor(() => !nodes[2]!.ready, 'node 3 to notice the cut');
    expect(nodes[0]!.ready && nodes[1]!.ready).toBe(true);

    await nodes[0]!.publish(text('while-away-a'));
    await nodes[1]!.publish(text('while-away-b'));
    await waitFor(() => proxies[2]!.refused > 0, 'node 3 to retry at least once');
    proxies[2]!.accept();

    await waitFor(
      () => received(inboxes[2]!, 'while-away-a') > 0 && received(inboxes[2]!, 'while-away-b') > 0,
      'node 3 to receive what was published while it was away (its queue outlived the cut)',
      RECOVERY_DEADLINE_MS,
    );
    await expectAllToAll('after');
  });

  it('when a node’s queue is deleted behind its back, then it declares the queue again and receives again', async () => {
    await withAdminChannel(async (channel) => {
      await channel.deleteQueue(`${exchange}.n2`);
    });
    // Payloads published before the queue is back are lost to node 2; probe until one arrives.
    let probe = 0;
    await waitFor(
      async () => {
        probe += 1;
        await nodes[0]!.publish(text(`probe-${probe}`));
        return inboxes[1]!.some((payload) => payload.toString().startsWith('probe-'));
      },
      'node 2 to receive again',
      RECOVERY_DEADLINE_MS,
      100,
    );
    expect(nodes[1]!.ready).toBe(true);
    await expectAllToAll('after');
  });

  it('when a node is closed during an outage, then close resolves promptly and its waiting publish rejects', async () => {
    await cutAll();
    const waiting = nodes[0]!.publish(text('never-sent'));
    const started = Date.now();
    await nodes[0]!.close();
    expect(Date.now() - started).toBeLessThan(PUBLISH_TIMEOUT_MS);
    await expect(waiting).rejects.toBeInstanceOf(BusUnavailableError);
    await expect(nodes[0]!.close()).resolves.toBeUndefined(); // idempotent

    for (const proxy of proxies) proxy.accept();
    await waitFor(
      () => nodes[1]!.ready && nodes[2]!.ready,
      'the other nodes to recover',
      RECOVERY_DEADLINE_MS,
    );
    expect(nodes[0]!.ready).toBe(false);
    await expect(nodes[0]!.publish(text('after-close'))).rejects.toBeInstanceOf(BusUnavailableError);
  });
});

describe('RabbitMQ bus: start', () => {
  it('when the broker cannot be reached, then start rejects with BusUnavailableError within startTimeoutMs', async () => {
    const proxy = await TcpProxy.start(AMQP_ADDRESS);
    proxy.refuse();
    const bus = makeBus(viaProxy(proxy), uniqueExchange(), 'n1', { startTimeoutMs: 1_000 });
    try {
      const started = Date.now();
      const outcome = await bus
        .start(() => undefined)
        .then(
          () => 'resolved',
          (err: unknown) => err,
        );
      expect(outcome).toBeInstanceOf(BusUnavailableError);
      expect((outcome as Error).message).toMatch(
        /RabbitMQ at amqp:\/\/[^:@/]+:\*\*\*@127\.0\.0\.1:\d+.*1000 ms/,
      );
      expect(Date.now() - started).toBeLessThan(1_000 + MARGIN_MS);
      expect(proxy.refused).toBeGreaterThan(0);
      expect(bus.ready).toBe(false);
      await expect(bus.publish(text('x'))).rejects.toBeInstanceOf(BusUnavailableError);
    } finally {
      await bus.close();
      await proxy.close();
    }
  });

  it('when AMQP_URL lists a dead broker first, then a node that starts on it moves to the next one and works', async () => {
    const proxy = await TcpProxy.start(AMQP_ADDRESS);
    proxy.refuse();
    const brokers = [viaProxy(proxy), AMQP_URL];
    // A node id that starts on the first (dead) broker of the list.
    let nodeId = 'n0';
    for (let i = 1; spreadIndex(nodeId, 2) !== 0; i++) nodeId = `n${i}`;
    const exchange = uniqueExchange();
    const bus = makeBus(brokers.join(','), exchange, nodeId, { startTimeoutMs: 10_000 });
    const inbox: Buffer[] = [];
    try {
      await bus.start((payload) => inbox.push(payload));
      expect(proxy.refused).toBeGreaterThan(0);
      await bus.publish(text('via the second broker'));
      await waitFor(() => received(inbox, 'via the second broker') === 1, 'the payload', 5_000);
    } finally {
      await bus.close();
      await proxy.close();
      await withAdminChannel(async (channel) => {
        await channel.deleteExchange(exchange);
        await channel.deleteExchange(`${exchange}.direct`);
      });
    }
  });

  it('when options contradict RabbitMQ limits, then the constructor throws a TypeError naming the option', () => {
    expect(() => makeBus(AMQP_URL, uniqueExchange(), 'n1', { prefetch: 0 })).toThrow(/prefetch/);
    expect(() => makeBus('http://localhost', uniqueExchange(), 'n1')).toThrow(TypeError);
    expect(() => makeBus(AMQP_URL, 'x'.repeat(250), 'n1'.repeat(5))).toThrow(/255/);
  });
});

describe('RabbitMQ bus: the publishes of one event-loop turn leave in one socket write', () => {
  const BURST = 50;
  /** How many of the writes carried a payload tagged `tag`, and how many payloads they carried. */
  function tagged(writes: SocketWrites, tag: string): { writes: number; payloads: number } {
    return {
      writes: writes.chunks().filter((chunk) => chunk.includes(tag)).length,
      payloads: writes.text().split(tag).length - 1,
    };
  }
  const socketOf = (connection: unknown): Socket => (connection as { stream: Socket }).stream;

  it('when amqplib alone sends a burst, then each publish is its own write; coalesceFrameWrites makes it one', async () => {
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createConfirmChannel();
      const burst = async (tag: string): Promise<{ writes: number; payloads: number }> => {
        const writes = countSocketWrites(socketOf(connection.connection));
        try {
          for (let i = 0; i < BURST; i++) channel.publish('', 'herald-test.nowhere', text(`${tag}${i};`));
          await channel.waitForConfirms();
          return tagged(writes, tag);
        } finally {
          writes.restore();
        }
      };
      expect(await burst('plain-')).toEqual({ writes: BURST, payloads: BURST });
      expect(coalesceFrameWrites(connection.connection)).toBe(true);
      expect(await burst('corked-')).toEqual({ writes: 1, payloads: BURST });
    } finally {
      await connection.close();
    }
  });

  it('when a node publishes a burst in one turn, then it leaves in one write and every node receives it in order', async () => {
    const exchange = uniqueExchange();
    const nodes = NODE_IDS.slice(0, 2).map((nodeId) => makeBus(AMQP_URL, exchange, nodeId));
    const inboxes: string[][] = nodes.map(() => []);
    try {
      await Promise.all(
        nodes.map((node, i) => node.start((payload) => inboxes[i]!.push(payload.toString()))),
      );
      const link = (nodes[0] as unknown as { link: { model: ChannelModel } }).link;
      const writes = countSocketWrites(socketOf(link.model.connection));
      const sent = Array.from({ length: BURST }, (_, i) => `burst-${i};`);
      try {
        await Promise.all(sent.map((payload) => nodes[0]!.publish(text(payload))));
        expect(tagged(writes, 'burst-')).toEqual({ writes: 1, payloads: BURST });
      } finally {
        writes.restore();
      }
      await waitFor(() => inboxes.every((inbox) => inbox.length >= BURST), 'both nodes to receive the burst');
      for (const inbox of inboxes) expect(inbox).toEqual(sent);
    } finally {
      await Promise.all(nodes.map((node) => node.close()));
      await deleteTopology(exchange, NODE_IDS.slice(0, 2));
    }
  });

  it('when the connection lacks amqplib internals, then coalesceFrameWrites changes nothing and says so', () => {
    expect(coalesceFrameWrites(undefined)).toBe(false);
    expect(coalesceFrameWrites({ muxer: {}, stream: {} })).toBe(false);
  });
});
