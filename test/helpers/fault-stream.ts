/**
 * The message stream of the fault tests: publishes a mix of user events and promotions through the
 * REST API of a cluster, as a careful backend would (a failed or refused publish is retried on the
 * next node with the same Idempotency-Key), and records every accepted message's channel and offset;
 * then checks what each client's app received against it: every message once, in offset order.
 */
import { randomUUID } from 'node:crypto';
import { postPublish } from './rest-http.js';
import { waitFor } from './wait.js';

export interface Accepted {
  channel: string;
  offset: number;
  epoch: string;
  /** Requests it took (more than 1: an attempt failed, e.g. cut off inside a killed node). */
  attempts?: number;
  /** Of those, answered `409 idempotency_in_progress`: a claim held by an attempt that never answered. */
  inProgress?: number;
}

export interface StreamOptions {
  /** REST base URLs of the nodes (a dead one is skipped by retrying on the next). */
  urls: () => string[];
  /** Channels of the user events, chosen round-robin; every third message goes to `promotions`. */
  userChannels: string[];
  total: number;
  concurrency?: number;
  /** Called after each accepted publish with the number accepted so far. */
  onAccepted?: (count: number) => void | Promise<void>;
}

/** Publishes `total` messages; resolves with what was accepted (channel, offset, epoch) per message. */
export async function publishStream(options: StreamOptions): Promise<Accepted[]> {
  const accepted: Accepted[] = [];
  let next = 0;
  let node = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < options.total; i = next++) {
      const channel = i % 3 === 0 ? 'promotions' : options.userChannels[i % options.userChannels.length]!;
      const key = randomUUID();
      const deadline = Date.now() + 20_000;
      let attempts = 0;
      let inProgress = 0;
      for (;;) {
        attempts++;
        const urls = options.urls();
        const url = urls[node++ % urls.length]!;
        const result = await postPublish(
          url,
          channel,
          { i },
          {
            idempotencyKey: key,
            signal: AbortSignal.timeout(5_000),
          },
        ).then(
          async (res) => {
            if (res.status === 409) inProgress++;
            return res.status === 202
              ? ((await res.json()) as { messages: Accepted[] }).messages[0]
              : undefined;
          },
          () => undefined,
        );
        if (result !== undefined) {
          accepted.push({ channel, offset: result.offset, epoch: result.epoch, attempts, inProgress });
          await options.onAccepted?.(accepted.length);
          break;
        }
        if (Date.now() > deadline) throw new Error(`message ${i} on ${channel} was never accepted`);
        await new Promise((resolve) => setTimeout(resolve, 50)); // back off before the next node
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
  return accepted;
}

/** What one client's app got: per channel, the offsets in delivery order. */
export interface Received {
  offsets: Map<string, number[]>;
  /** Wire repeats the client itself dropped (its dedupe). */
  dropped: number;
  /** recovered:false reports after a position was sent. */
  notRecovered: number;
}

export interface Tally {
  clients: number;
  sent: number;
  expected: number;
  received: number;
  duplicates: number;
  gaps: number;
  outOfOrder: number;
  dropped: number;
  notRecovered: number;
}

/** Expected offsets per channel: what was accepted, ascending. */
export function expectedOffsets(accepted: readonly Accepted[]): Map<string, number[]> {
  const byChannel = new Map<string, number[]>();
  for (const a of accepted) {
    const list = byChannel.get(a.channel) ?? [];
    list.push(a.offset);
    byChannel.set(a.channel, list);
  }
  for (const list of byChannel.values()) list.sort((x, y) => x - y);
  return byChannel;
}

/** True once `received` holds every expected offset of `channels`. */
export function complete(received: Received, channels: string[], expected: Map<string, number[]>): boolean {
  return channels.every((channel) => {
    const want = expected.get(channel) ?? [];
    const got = new Set(received.offsets.get(channel) ?? []);
    return want.every((offset) => got.has(offset));
  });
}

/**
 * Counts, over all clients, messages received, app-level duplicates, missing messages (gaps) and
 * messages delivered after a higher offset of the same channel.
 */
export function tally(
  sent: number,
  clients: { received: Received; channels: string[] }[],
  expected: Map<string, number[]>,
): Tally {
  const t: Tally = {
    clients: clients.length,
    sent,
    expected: 0,
    received: 0,
    duplicates: 0,
    gaps: 0,
    outOfOrder: 0,
    dropped: 0,
    notRecovered: 0,
  };
  for (const { received, channels } of clients) {
    t.dropped += received.dropped;
    t.notRecovered += received.notRecovered;
    for (const channel of channels) {
      const want = expected.get(channel) ?? [];
      const got = received.offsets.get(channel) ?? [];
      t.expected += want.length;
      t.received += got.length;
      t.duplicates += got.length - new Set(got).size;
      const have = new Set(got);
      t.gaps += want.filter((offset) => !have.has(offset)).length;
      for (let i = 1; i < got.length; i++) if (got[i]! <= got[i - 1]!) t.outOfOrder++;
    }
  }
  return t;
}

export function formatTally(name: string, t: Tally, extra: Record<string, number> = {}): string {
  const fields = { ...t, ...extra };
  return `[fault:${name}] ${Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}`;
}

/**
 * Waits (up to `timeoutMs`) until every client holds every accepted message of its channels, then
 * tallies what each received; a timeout is not thrown: the tally says what is missing.
 */
export async function settle(
  clients: { received: Received; channels: string[] }[],
  accepted: readonly Accepted[],
  timeoutMs = 60_000,
): Promise<Tally> {
  const expected = expectedOffsets(accepted);
  await waitFor(
    () => clients.every((c) => complete(c.received, c.channels, expected)),
    'every client to hold every message',
    timeoutMs,
    100,
  ).catch(() => undefined);
  return tally(accepted.length, clients, expected);
}
