/**
 * Contract suite for `Bus` (shared/bus/bus.ts): every driver (memory, Redis, RabbitMQ) runs it.
 *
 * `makeCluster` returns at least two buses attached to one broker, not yet started, isolated from any
 * other cluster (unique queue/channel names are the factory's concern). Tests start the buses and may
 * close some of them; the cluster's `close` then closes whatever is left and must tolerate buses the
 * test already closed. Nothing here sleeps: every wait polls a condition against a deadline.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BusUnavailableError, type Bus } from '../../shared/bus/bus.js';
import { InvalidArgumentError } from '../../shared/core/contract-errors.js';
import { waitFor } from '../helpers/wait.js';

export interface BusCluster {
  nodes: Bus[];
  /** Each bus's node id (targeted publishes name these), in the order of `nodes`. */
  ids: string[];
  close(): Promise<void>;
}

const DELIVERY_DEADLINE_MS = 10_000;

/** Fence payloads mark "everything published before this has arrived"; tests ignore them otherwise. */
const fences = new Set<string>();

function fence(): Buffer {
  const payload = Buffer.from(`\u0000fence:${randomUUID()}`);
  fences.add(payload.toString('hex'));
  return payload;
}

function isFence(payload: Buffer): boolean {
  return fences.has(payload.toString('hex'));
}

/** Records what one node's handler received; optionally throws (after recording) for some payloads. */
class Inbox {
  readonly all: Buffer[] = [];

  constructor(private readonly throwFor: (payload: Buffer) => boolean = () => false) {}

  readonly handler = (payload: Buffer): void => {
    this.all.push(payload);
    if (this.throwFor(payload)) throw new Error('handler failure injected by the bus contract suite');
  };

  /** Received payloads other than fences, in arrival order. */
  get payloads(): Buffer[] {
    return this.all.filter((payload) => !isFence(payload));
  }

  get texts(): string[] {
    return this.payloads.map((payload) => payload.toString());
  }

  has(payload: Buffer): boolean {
    return this.all.some((received) => received.equals(payload));
  }
}

async function startAll(
  nodes: Bus[],
  throwFor?: (node: number, payload: Buffer) => boolean,
): Promise<Inbox[]> {
  const inboxes = nodes.map((_, i) => new Inbox(throwFor && ((payload) => throwFor(i, payload))));
  await Promise.all(nodes.map((node, i) => node.start(inboxes[i]!.handler)));
  return inboxes;
}

/**
 * Every publisher sends a fence and waits until every inbox has every fence: by per-publisher order,
 * everything published before has then reached every inbox, and any duplicate sent with it too.
 */
async function settle(publishers: Bus[], inboxes: Inbox[]): Promise<void> {
  const sent = await Promise.all(
    publishers.map(async (node) => {
      const payload = fence();
      await node.publish(payload);
      return payload;
    }),
  );
  await waitFor(
    () => inboxes.every((inbox) => sent.every((payload) => inbox.has(payload))),
    'every fence to reach every node',
    DELIVERY_DEADLINE_MS,
  );
}

function text(value: string): Buffer {
  return Buffer.from(value);
}

export function busContract(name: string, makeCluster: () => Promise<BusCluster>): void {
  describe(`Bus contract: ${name}`, () => {
    let cluster: BusCluster | undefined;
    let nodes: Bus[];
    let ids: string[];

    beforeEach(async () => {
      cluster = await makeCluster();
      nodes = cluster.nodes;
      ids = cluster.ids;
      if (nodes.length < 2) throw new Error(`the bus contract needs at least 2 nodes, got ${nodes.length}`);
    });

    afterEach(async () => {
      const current = cluster;
      cluster = undefined;
      await current?.close();
    });

    it('when a node starts, then start resolves and the node reports ready', async () => {
      for (const node of nodes) await expect(node.start(() => undefined)).resolves.toBeUndefined();
      for (const node of nodes) expect(node.ready).toBe(true);
    });

    it('when any node publishes, then every started node, the publisher included, receives the payload exactly once', async () => {
      const inboxes = await startAll(nodes);
      for (const [i, node] of nodes.entries())
        await expect(node.publish(text(`from-${i}`))).resolves.toBeUndefined();
      await settle(nodes, inboxes);

      const expected = nodes.map((_, i) => `from-${i}`).sort();
      for (const inbox of inboxes) expect([...inbox.texts].sort()).toEqual(expected);
    });

    it('when one node publishes 500 payloads without waiting in between, then every node receives them in publish order', async () => {
      const inboxes = await startAll(nodes);
      const sent = Array.from({ length: 500 }, (_, seq) => `seq-${seq}`);
      await Promise.all(sent.map((payload) => nodes[0]!.publish(text(payload))));
      await settle(nodes, inboxes);

      for (const inbox of inboxes) expect(inbox.texts).toEqual(sent);
    });

    it('when every node publishes 500 payloads at once, then every node receives each publisher’s payloads in its publish order', async () => {
      const inboxes = await startAll(nodes);
      const count = 500;
      await Promise.all(
        nodes.flatMap((node, publisher) =>
          Array.from({ length: count }, (_, seq) => node.publish(text(`${publisher}:${seq}`))),
        ),
      );
      await settle(nodes, inboxes);

      const ascending = Array.from({ length: count }, (_, seq) => seq);
      for (const inbox of inboxes) {
        expect(inbox.payloads).toHaveLength(count * nodes.length);
        for (const publisher of nodes.keys()) {
          const seqs = inbox.texts
            .filter((payload) => payload.startsWith(`${publisher}:`))
            .map((payload) => Number(payload.slice(payload.indexOf(':') + 1)));
          expect(seqs).toEqual(ascending);
        }
      }
    });

    it('when payloads carry arbitrary bytes, then every node receives exactly those bytes', async () => {
      const inboxes = await startAll(nodes);
      const payloads = [
        Buffer.from(Array.from({ length: 256 }, (_, byte) => byte)), // every byte value, NUL included
        Buffer.from([0x00]),
        Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82]), // not valid UTF-8
        Buffer.from('{"json":"looking","but":"opaque"}\r\n\u2603'),
        Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7919 + (i >> 8)) & 0xff)),
      ];
      const copies = payloads.map((payload) => Buffer.from(payload));
      for (const payload of payloads) await nodes[1]!.publish(payload);
      await settle(nodes, inboxes);

      for (const inbox of inboxes) {
        const received = inbox.payloads;
        expect(received).toHaveLength(copies.length);
        for (const [i, copy] of copies.entries()) {
          expect(Buffer.isBuffer(received[i])).toBe(true);
          expect(received[i]!.equals(copy), `payload ${i} (${copy.length} bytes) intact`).toBe(true);
        }
      }
    });

    it('when a node is closed, then close resolves, it is no longer ready, and its publish rejects with BusUnavailableError', async () => {
      await startAll(nodes);
      const closing = nodes[0]!;
      await expect(closing.close()).resolves.toBeUndefined();

      expect(closing.ready).toBe(false);
      await expect(closing.publish(text('too late'))).rejects.toBeInstanceOf(BusUnavailableError);
      for (const other of nodes.slice(1)) expect(other.ready).toBe(true);
    });

    it('when a node is closed, then the others still deliver to each other and the closed node receives nothing more', async () => {
      const inboxes = await startAll(nodes);
      await nodes[0]!.close();
      const closedSeen = inboxes[0]!.all.length;

      const remaining = nodes.slice(1);
      for (const [i, node] of remaining.entries()) await node.publish(text(`after-close-${i}`));
      await settle(remaining, inboxes.slice(1));

      const expected = remaining.map((_, i) => `after-close-${i}`).sort();
      for (const inbox of inboxes.slice(1)) expect([...inbox.texts].sort()).toEqual(expected);
      expect(inboxes[0]!.all).toHaveLength(closedSeen);
    });

    it('when one node’s handler throws, then other nodes and later payloads are still delivered, and the failed payload is not redelivered', async () => {
      const inboxes = await startAll(
        nodes,
        (node, payload) => node === 0 && payload.toString().startsWith('boom'),
      );
      await nodes[1]!.publish(text('boom-from-1'));
      await nodes[0]!.publish(text('boom-from-0'));
      for (const [i, node] of nodes.entries()) await node.publish(text(`later-from-${i}`));
      await settle(nodes, inboxes);

      for (const inbox of inboxes) {
        const texts = inbox.texts;
        expect([...texts].sort()).toEqual(
          ['boom-from-0', 'boom-from-1', ...nodes.map((_, i) => `later-from-${i}`)].sort(),
        );
        // Per-publisher order holds around the failures too.
        expect(texts.indexOf('boom-from-1')).toBeLessThan(texts.indexOf('later-from-1'));
        expect(texts.indexOf('boom-from-0')).toBeLessThan(texts.indexOf('later-from-0'));
      }
      expect(nodes[0]!.ready).toBe(true);
    });

    it('when a node publishes to named nodes, then exactly those nodes receive it, once each, the publisher too when named', async () => {
      if (nodes.length < 3) throw new Error('this test needs 3 nodes');
      const inboxes = await startAll(nodes);
      await nodes[0]!.publish(text('to-1'), [ids[1]!]);
      await nodes[0]!.publish(text('to-0-and-2'), [ids[0]!, ids[2]!]);
      await nodes[1]!.publish(text('to-all-named'), [...ids]);
      await nodes[2]!.publish(text('to-nobody-running'), ['no-such-node']);
      await settle(nodes, inboxes);

      expect(inboxes[0]!.texts).toEqual(['to-0-and-2', 'to-all-named']);
      expect(inboxes[1]!.texts).toEqual(['to-1', 'to-all-named']);
      expect(inboxes[2]!.texts).toEqual(['to-0-and-2', 'to-all-named']);
    });

    it('when a node publishes to an empty list of nodes, then publish rejects with an InvalidArgumentError and nobody receives it', async () => {
      const inboxes = await startAll(nodes);
      const refused = nodes[0]!.publish(text('to-no-one'), []);
      await expect(refused).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(refused).rejects.toMatchObject({ code: 'invalid_argument', temporary: false });
      await settle(nodes, inboxes);

      for (const inbox of inboxes) expect(inbox.texts).toEqual([]);
      expect(nodes[0]!.ready).toBe(true);
    });

    it('when one node interleaves targeted and broadcast payloads, then each node receives what it is owed in publish order', async () => {
      const inboxes = await startAll(nodes);
      const sent = Array.from({ length: 300 }, (_, seq) => ({
        payload: `seq-${seq}`,
        nodes: seq % 3 === 0 ? undefined : seq % 3 === 1 ? [ids[1]!] : [ids[0]!, ids[1]!],
      }));
      await Promise.all(sent.map((m) => nodes[0]!.publish(text(m.payload), m.nodes)));
      await settle(nodes, inboxes);

      for (const [i, inbox] of inboxes.entries()) {
        const owed = sent.filter((m) => m.nodes === undefined || m.nodes.includes(ids[i]!));
        expect(inbox.texts).toEqual(owed.map((m) => m.payload));
      }
    });
  });
}
