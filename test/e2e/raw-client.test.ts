/**
 * A client built from docs/protocol.md alone (test/helpers/raw-client.ts) against real node processes
 * on the machine's Redis and RabbitMQ: failover to another node with resume, recovery within and
 * beyond retention, idempotent publishes.
 *
 * Gaps found in docs/protocol.md while writing the client (the most reasonable reading was taken):
 *  1. §1 calls shared/protocol/ the source of truth ("where this document and the code disagree, the code
 *     is right"), so the document does not claim to be a complete spec; a doc-only client cannot know.
 *  2. §5.1 says "Messages do not carry the epoch; subscribed does" and that an epoch change while subscribed
 *     is only visible as a repeated offset with another id; §3.2 (message table and examples) says every
 *     `message` has an `epoch`. Read: the field exists; the client uses it, with §12's id rule as fallback.
 *  3. Dedupe key disagrees: §3.2 and §5.3 say (channel, epoch, offset); §12 says (channel, offset) plus the
 *     id. §12 says "remember the id of recent offsets" without a number (§6: nodes remember 256), nor what
 *     to do with an offset at or below the last one whose id is no longer remembered (§6: an older
 *     redelivery is delivered again). Read: keep 1000 ids; drop anything at or below the last offset.
 *  4. §3.1 `resume` says "Only after welcome (before it, it is refused ... close 4001)", while §2.2 allows
 *     pipelining after `auth` and §11.2 pipelines `resume`; the §2.2 table and §9 `auth_required` list only
 *     subscribe/unsubscribe. Read: pipelining resume right after auth is allowed (it works).
 *  5. §5.4/§9: only `session_not_found` is described as a failed resume. What resume answers when the
 *     state store fails during the lookup (`unavailable`? `internal`? close?) and whether a `bad_frame` on
 *     resume leaves the connection without channels is not said. Read: any error carrying the resume's ref
 *     means "subscribe every channel yourself with positions" and keep the welcome's session.
 *  6. §5.4 talks of the resume window "after its connection closed" but not of a node that dies (SIGKILL):
 *     when the window starts, and when the dead node's connections stop counting against
 *     WS_MAX_CONNECTIONS_PER_USER (matters for fault tests with many clients). Resume worked at once.
 *  7. §7 vs §12 vs the brief: dead-link rule is "no pong or other frame within about heartbeatMs after a
 *     ping"; it does not say whether the server's WebSocket protocol pings (visible to a `ws` client)
 *     count as frames. Read: any data or control frame counts; dead after 2 × heartbeatMs of silence.
 *  8. `reconnect` (§3.2 vs §12): §3.2 says open a new connection and "subscribe again with the last offset
 *     and epoch", §12 says "connect and resume". Also unsaid: is `url` a one-off or the URL for later
 *     reconnects; how much jitter; whether resuming the session on the new connection while the old one is
 *     open makes both deliver (§5.4 only says the old one is not closed), and whether closing the old one
 *     afterwards affects the session. Read: resume on the new one, close the old with 1000, `url` one-off.
 *  9. §10.1 vs §12 on close codes: 1008 is "reconnect with backoff" in §10.1 but "a repeated 1008 is a
 *     client bug, back off hard" in §12; 1009 "reconnect" vs "back off hard and report". 4001 is final
 *     ("never loop"), yet `nbf` in the future (§2.3) is `token_invalid`/4001 although it becomes valid later.
 *     4004 "do not reconnect unless the application decides": final here.
 * 10. §10.2: only 503 says "try another node"; whether 404/403/400/405 at the upgrade are final is unsaid.
 *     Read (per the brief): every HTTP refusal is retried with backoff on the next URL.
 * 11. §12 "give each pending request a timeout" gives no value and no action on timeout (resend? drop the
 *     connection?), nor whether `ping` is such a request. Read: 10 s, then drop the connection.
 * 12. §6/§12 "allow a short grace period" for a gap: no duration. Read: 1 s, then unsubscribe + subscribe
 *     from the last offset.
 * 13. §12 after `session_not_found`: which session id to resume with next time is only implied (the new
 *     welcome's, since "nothing changed"). §8: WS_MESSAGE_BURST is not in `welcome`, so a client that
 *     pipelines many subscribes before `welcome` cannot know how many it may send.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../helpers/node-process.js';
import { RawClient, type ReceivedMessage } from '../helpers/raw-client.js';
import { ADMIN, PUBLISH_ONLY } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

interface Published {
  id: string;
  offset: number;
  epoch: string;
}

async function publish(
  url: string,
  channel: string,
  data: unknown,
  idempotencyKey?: string,
): Promise<Published> {
  const headers: Record<string, string> = { 'content-type': 'application/json', authorization: PUBLISH_ONLY };
  if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
  const res = await fetch(`${url}/v1/publish`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ channel, event: 'test.raw', data }),
  });
  expect(res.status).toBe(202);
  const body = (await res.json()) as { messages: Published[] };
  return body.messages[0]!;
}

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
      ` closeCodes=${client.closeCodes.join(',')} nodes=${client.nodes.join(',')}`,
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
      for (let i = 0; i < 3; i++) for (const c of channels) sent.get(c)!.push(await publish(a.url, c, { i }));
      await waitFor(() => channels.every((c) => client.delivered.get(c)!.length === 3), 'first messages');

      a.child.kill('SIGKILL');
      for (let i = 3; i < 8; i++) for (const c of channels) sent.get(c)!.push(await publish(b.url, c, { i }));
      await waitFor(
        () => client.connected() && channels.every((c) => client.delivered.get(c)!.length >= 8),
        'the client to catch up on node 2',
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
        for (let i = 0; i < count; i++)
          published.push(await publish(node.url, channel, { n: published.length }));
        release();
      };
      try {
        await client.start();
        published.push(await publish(node.url, channel, { n: 0 }));
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

        for (let i = 0; i < 2; i++) published.push(await publish(node.url, channel, { n: published.length }));
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
        for (let i = 0; i < 3; i++) replies.push(await publish(node.url, channel, { order: 'o-1' }, key));
        expect(new Set(replies.map((r) => r.id)).size).toBe(1);
        const marker = await publish(node.url, channel, { marker: true });
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
