/**
 * A client built from docs/protocol.md alone (test/helpers/raw-client.ts) against real node processes
 * on the machine's Redis and RabbitMQ: failover to another node with resume, recovery within and
 * beyond retention, idempotent publishes.
 *
 * Writing the client from the document alone found 13 gaps (contradictions on the epoch field and the
 * dedupe key, failed-resume outcomes, node crashes and the resume window, the dead-link rule, the
 * reconnect frame, close-code policy, request timeouts, gap grace, burst). They were closed in
 * docs/protocol.md (commit 643ffda, "close the gaps a docs-only client found"); the client follows the
 * readings the document now states.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../helpers/node-process.js';
import { RawClient, type ReceivedMessage } from '../helpers/raw-client.js';
import { publish, type Published } from '../helpers/rest-http.js';
import { ADMIN } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

/** Prints the figures and returns the ids of published messages that never arrived. */
function report(name: string, client: RawClient, sent: Map<string, Published[]>): string[] {
  const missing: string[] = [];
  let received = 0;
  for (const [channel, published] of sent) {
    const got = new Set((client.delivered.get(channel) ?? []).map((m) => m.id));
    received += got.size;
    for (const p of published) if (!got.has(p.id)) missing.push(`${channel}@${p.offset}`);
  }
  const total = [...sent.values()].reduce((n, l) => n + l.length, 0);
  console.log(
    `${name}: sent=${total} received=${received} duplicates=${client.duplicatesDropped} gaps=${missing.length}` +
      ` reconnects=${client.reconnects} resumes=${client.resumes} notRecovered=${client.notRecovered.length}` +
      ` closeCodes=${client.closeCodes.join(',')} nodes=${client.nodes.join(',')} errors=${client.errors.join('|')}`,
  );
  return missing;
}

const offsets = (list: ReceivedMessage[] | undefined): number[] => (list ?? []).map((m) => m.offset);
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('raw protocol client', () => {
  it('fails over to another node after SIGKILL and resumes with every message once, in order', async () => {
    const cluster = await startCluster(2);
    const user = `raw-${randomUUID().slice(0, 8)}`;
    const channels = [`user:${user}`, 'promotions'];
    const client = new RawClient({
      urls: cluster.nodes.map((n) => n.wsUrl),
      token: () => mintToken(user),
      channels,
    });
    const sent = new Map<string, Published[]>(channels.map((c) => [c, []]));
    const [a, b] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    try {
      await client.start();
      expect(client.nodes).toEqual([a.id]);
      for (let i = 0; i < 3; i++) for (const c of channels) sent.get(c)!.push(await publish(a, c, { i }));
      await waitFor(() => channels.every((c) => client.delivered.get(c)!.length === 3), 'first messages');

      a.child.kill('SIGKILL');
      for (let i = 3; i < 8; i++) for (const c of channels) sent.get(c)!.push(await publish(b, c, { i }));
      await waitFor(
        // `resumed` follows the restored channels' replays: wait for it too, not only for the messages.
        () =>
          client.connected() &&
          client.resumes >= 1 &&
          channels.every((c) => client.delivered.get(c)!.length >= 8),
        'the client to resume and catch up on node 2',
        15_000,
      );

      const missing = report('failover', client, sent);
      expect(missing).toEqual([]);
      for (const c of channels) {
        expect(offsets(client.delivered.get(c))).toEqual(range(1, 8));
        expect(client.delivered.get(c)!.map((m) => m.id)).toEqual(sent.get(c)!.map((p) => p.id));
      }
      expect(client.nodes.at(-1)).toBe(b.id);
      expect(client.resumes).toBeGreaterThanOrEqual(1);
      expect(client.notRecovered).toEqual([]);
    } finally {
      await client.close();
      await cluster.stop();
    }
  }, 40_000);

  describe('on one node keeping 5 messages per user channel', () => {
    let cluster: TestCluster;
    beforeAll(async () => {
      cluster = await startCluster(1, { HISTORY_USER_MAX_MESSAGES: '5' });
    });
    afterAll(async () => {
      await cluster?.stop();
    });

    it('recovers what was missed within retention, and reports the position beyond it', async () => {
      const node = cluster.nodes[0]!;
      const user = `raw-${randomUUID().slice(0, 8)}`;
      const channel = `user:${user}`;
      const client = new RawClient({ urls: [node.wsUrl], token: () => mintToken(user), channels: [channel] });
      const published: Published[] = [];
      const got = (): ReceivedMessage[] => client.delivered.get(channel)!;
      /** Drops the link, publishes `count` while the client is away, then lets it reconnect. */
      const away = async (count: number): Promise<void> => {
        let release!: () => void;
        client.dropConnection(new Promise<void>((r) => (release = r)));
        await waitFor(() => !client.connected(), 'the link to drop');
        for (let i = 0; i < count; i++) published.push(await publish(node, channel, { n: published.length }));
        release();
      };
      try {
        await client.start();
        published.push(await publish(node, channel, { n: 0 }));
        await waitFor(() => got().length === 1, 'the first message');

        await away(3);
        await waitFor(
          () => client.resumes === 1 && client.connected() && got().length === 4,
          'recovery of 3',
        );
        expect(client.notRecovered).toEqual([]);
        expect(offsets(got())).toEqual(range(1, 4));

        await away(8);
        await waitFor(() => client.resumes === 2 && client.connected(), 'the second resume');
        const last = published.at(-1)!;
        expect(client.notRecovered).toEqual([{ channel, offset: last.offset, epoch: last.epoch }]);
        expect(got()).toHaveLength(4);

        for (let i = 0; i < 2; i++) published.push(await publish(node, channel, { n: published.length }));
        await waitFor(() => got().length === 6, 'the messages after the reported position');
        expect(offsets(got())).toEqual([...range(1, 4), 13, 14]);
        const missing = report('retention', client, new Map([[channel, published]]));
        expect(missing).toHaveLength(8);
        expect(client.duplicatesDropped).toBe(0);
      } finally {
        await client.close();
      }
    });

    it('delivers one message for three publishes with the same Idempotency-Key', async () => {
      const node = cluster.nodes[0]!;
      const user = `raw-${randomUUID().slice(0, 8)}`;
      const channel = `user:${user}`;
      const client = new RawClient({ urls: [node.wsUrl], token: () => mintToken(user), channels: [channel] });
      try {
        await client.start();
        const key = `idem-${randomUUID()}`;
        const replies: Published[] = [];
        for (let i = 0; i < 3; i++)
          replies.push(await publish(node, channel, { order: 'o-1' }, { idempotencyKey: key }));
        expect(new Set(replies.map((r) => r.id)).size).toBe(1);
        const marker = await publish(node, channel, { marker: true });
        await waitFor(() => client.delivered.get(channel)!.some((m) => m.id === marker.id), 'the marker');
        const ids = client.delivered.get(channel)!.map((m) => m.id);
        expect(ids).toEqual([replies[0]!.id, marker.id]);
        const missing = report('idempotency', client, new Map([[channel, [...replies, marker]]]));
        expect(missing).toEqual([]);
      } finally {
        await client.close();
      }
    });
    it('retries past an HTTP 503 at the upgrade, and stops for good on close 4004', async () => {
      const node = cluster.nodes[0]!;
      const user = `raw-${randomUUID().slice(0, 8)}`;
      const channel = `user:${user}`;
      const refuser = createServer((_req, res) => res.writeHead(404).end());
      refuser.on('upgrade', (_req, socket: Duplex) =>
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'),
      );
      await new Promise<void>((resolve) => refuser.listen(0, '127.0.0.1', resolve));
      const refuserUrl = `ws://127.0.0.1:${(refuser.address() as AddressInfo).port}/ws`;
      const client = new RawClient({
        urls: [refuserUrl, node.wsUrl],
        token: () => mintToken(user),
        channels: [channel],
      });
      try {
        await client.start();
        expect(client.httpRefusals).toEqual([503]);
        expect(client.nodes).toEqual([node.id]);
        const res = await fetch(`${node.url}/v1/users/${user}/connections`, {
          method: 'DELETE',
          headers: { authorization: ADMIN },
        });
        expect(res.ok).toBe(true);
        await waitFor(() => client.finished, 'the operator close to end the client');
        expect(client.closeCodes).toEqual([1006, 4004]);
        expect(client.connected()).toBe(false);
        report('refusal+4004', client, new Map());
      } finally {
        await client.close();
        await new Promise((resolve) => refuser.close(resolve));
      }
    });
  });
});
