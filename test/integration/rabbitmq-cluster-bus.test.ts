/**
 * The RabbitMQ bus on a private three-broker RabbitMQ cluster (test/helpers/rabbitmq-cluster.ts):
 * nodes given every broker spread over them, each queue on the broker its node is connected to;
 * when a node's broker is SIGKILLed, that node moves to another broker within seconds, declares its
 * queue there, reports `resumed` (the core catches up from history), and receives again, while a node
 * on another broker never notices.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RabbitMqBus, spreadIndex } from '../../shared/bus/rabbitmq-bus.js';
import { startRabbitCluster, type PrivateRabbitCluster } from '../helpers/rabbitmq-cluster.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
let cluster: PrivateRabbitCluster;

beforeAll(async () => {
  cluster = await startRabbitCluster(3);
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

/** The first id of the form `<stem><n>` that starts on broker `broker` of three. */
function idOn(stem: string, broker: number): string {
  for (let n = 0; ; n++) if (spreadIndex(`${stem}${n}`, 3) === broker) return `${stem}${n}`;
}

interface Node {
  id: string;
  bus: RabbitMqBus;
  inbox: string[];
  resumed: number;
}

async function startNode(id: string): Promise<Node> {
  const node: Node = {
    id,
    inbox: [],
    resumed: 0,
    bus: new RabbitMqBus({
      url: cluster.urls,
      exchange: 'herald-test.cluster',
      nodeId: id,
      prefetch: 100,
      queueMaxLength: 10_000,
      queueExpiresMs: 60_000,
      publishTimeoutMs: 5_000,
      log: log.child({ nodeId: id }),
    }),
  };
  await node.bus.start((payload) => node.inbox.push(payload.toString()), {
    resumed: () => (node.resumed += 1),
  });
  return node;
}

describe('RabbitMQ bus on a RabbitMQ cluster', () => {
  it("when a node's broker is killed, then it moves to another broker within seconds, declares its queue there, reports resumed, and broadcast and targeted payloads reach it again", async () => {
    const a = await startNode(idOn('a', 0));
    const b = await startNode(idOn('b', 1));
    try {
      // Each queue lives on the broker its node is connected to, named by that broker's place.
      expect(cluster.queues(0)).toEqual([{ name: `herald-test.cluster.${a.id}.0`, consumers: 1 }]);
      expect(cluster.queues(1)).toEqual([{ name: `herald-test.cluster.${b.id}.1`, consumers: 1 }]);
      await b.bus.publish(Buffer.from('before: all'));
      await b.bus.publish(Buffer.from('before: to a'), [a.id]);
      await waitFor(() => a.inbox.length === 2, 'a to receive both', 5_000);

      const killed = Date.now();
      await cluster.kill(0);
      await waitFor(() => !a.bus.ready, 'a to notice its broker died', 10_000);
      await waitFor(() => a.bus.ready && a.resumed === 1, 'a to be back on another broker', 20_000);
      const movedMs = Date.now() - killed;
      console.log(`bus node ${a.id} moved off its dead broker in ${movedMs} ms`);
      expect(b.resumed).toBe(0); // on a live broker: never cut off

      await b.bus.publish(Buffer.from('after: all'));
      await b.bus.publish(Buffer.from('after: to a'), [a.id]);
      await a.bus.publish(Buffer.from('after: from a'), [b.id]);
      await waitFor(() => a.inbox.length === 4, 'a to receive again', 5_000);
      expect(a.inbox).toEqual(['before: all', 'before: to a', 'after: all', 'after: to a']);
      await waitFor(() => b.inbox.includes('after: from a'), 'b to receive from a', 5_000);
      // On the next broker of the list, beside b's queue.
      expect(cluster.queues(1)).toContainEqual({ name: `herald-test.cluster.${a.id}.1`, consumers: 1 });
    } finally {
      await a.bus.close();
      await b.bus.close();
    }
  }, 60_000);
});
