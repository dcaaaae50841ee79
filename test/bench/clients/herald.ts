/**
 * Herald protocol v1 (docs/protocol.md) on the generator's own WebSocket client (wire.ts): token and
 * channels in the query, `welcome` and the two `subscribed` frames (after a reconnect, a `resume` with
 * the session and positions, or `subscribe` frames with positions), `message` frames.
 *
 * Receive path: a `message` frame is recognised by its prefix as the server writes it today
 * (`{"type":"message","channel":"…","offset":N,…`); channel, offset and (in timed phases) `sentAt` are
 * read from the bytes. Anything else, including a message frame laid out differently, is JSON-parsed.
 * Deliveries are deduplicated per client by (channel, offset), as a real client does, so a client that
 * briefly holds two connections while moving counts each message once.
 */
import { byteIn, hasAt, numberAt, sentAtIn } from './bytes.js';
import {
  HANDSHAKE_TIMEOUT_MS,
  type BenchClient,
  type FleetHooks,
  type Link,
  type Position,
  type Protocol,
} from './client.js';
import { knobs } from '../knobs.js';
import { WireSocket } from './wire.js';

const MESSAGE = Buffer.from('{"type":"message","channel":"');
const PROMOTIONS = Buffer.from('promotions",');
const OFFSET = Buffer.from('"offset":');
/** Larger jumps in a channel's offsets are not tracked as gaps (a new epoch, a recovery refused). */
const MAX_GAP = 10_000;

interface Frame {
  type: string;
  [field: string]: unknown;
}

export class HeraldProtocol implements Protocol {
  constructor(private readonly hooks: FleetHooks) {}

  handshake(client: BenchClient, url: string, mode: 'fresh' | 'resume'): Promise<Link> {
    return new Promise<Link>((resolve, reject) => {
      // A first connection names its channels in the URL: the server subscribes them right after the
      // welcome (docs/protocol.md 2.1). With positions to recover from, it subscribes (or resumes).
      const atConnect =
        knobs.subscribe === 'connect' && mode === 'fresh' && Object.keys(this.positions(client)).length === 0;
      const channelsQuery = atConnect ? `&channels=${this.channels(client).join(',')}` : '';
      const ws = new WireSocket(`${url}?token=${client.token}${channelsQuery}`);
      const link: Link = { ws, url, closedByUs: false, closed: false };
      let settled = false;
      let pending = atConnect ? this.channels(client).length : 0;
      let resuming = false;
      let ownSession: string | undefined;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        link.closedByUs = true;
        ws.terminate();
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new Error(`no welcome/subscribed within ${HANDSHAKE_TIMEOUT_MS} ms`)),
        HANDSHAKE_TIMEOUT_MS,
      );
      const subscribe = (channels: string[]): void => {
        pending = channels.length;
        for (const channel of channels) {
          const at = this.positions(client)[channel] ?? {};
          ws.send(JSON.stringify({ type: 'subscribe', channel, ...at }));
        }
      };
      const control = (frame: Frame): void => {
        if (settled) return this.afterReady(client, link, frame);
        switch (frame.type) {
          case 'welcome':
            ownSession = frame.session as string;
            if (mode === 'resume' && client.session !== undefined) {
              resuming = true;
              ws.send(
                JSON.stringify({
                  type: 'resume',
                  session: client.session,
                  positions: this.positions(client),
                }),
              );
            } else {
              client.session = ownSession;
              if (!atConnect) subscribe(this.channels(client));
            }
            return;
          case 'subscribed':
            this.subscribed(client, frame);
            if (!resuming && --pending === 0) ready();
            return;
          case 'resumed': {
            resuming = false;
            client.session = frame.session as string;
            const missing = this.channels(client).filter((c) => !(frame.channels as string[]).includes(c));
            if (missing.length === 0) ready();
            else subscribe(missing);
            return;
          }
          case 'error':
            if (resuming && frame.channel === undefined) {
              // session_not_found and the like: subscribe with the stored positions instead.
              this.hooks.counters.resumeFallbacks++;
              resuming = false;
              client.session = ownSession;
              subscribe(this.channels(client));
            } else if (!resuming) fail(new Error(`handshake error frame: ${JSON.stringify(frame)}`));
            return;
          default:
            return this.afterReady(client, link, frame);
        }
      };
      const ready = (): void => {
        settled = true;
        clearTimeout(timer);
        resolve(link);
      };
      ws.onmessage = (buf, start, end) => {
        if (this.delivery(client, buf, start, end)) return;
        let frame: Frame;
        try {
          frame = JSON.parse(buf.toString('utf8', start, end)) as Frame;
        } catch {
          return this.hooks.error(`not JSON: ${buf.toString('utf8', start, Math.min(end, start + 200))}`);
        }
        control(frame);
      };
      ws.onerror = (err) => (settled ? this.hooks.error(`socket error: ${err.message}`) : fail(err));
      ws.onclose = (code) => {
        link.closed = true;
        if (!settled) fail(new Error(`closed ${code} during the handshake`));
        else if (!link.closedByUs) this.hooks.closed(client, link, code);
      };
    });
  }

  /**
   * Hot path: counts a `message` frame (`buf[start, end)`) read from its bytes; false when it is not one
   * (or not laid out as expected).
   */
  private delivery(client: BenchClient, buf: Buffer, start: number, end: number): boolean {
    if (!hasAt(buf, start, end, MESSAGE)) return false;
    let at = start + MESSAGE.length;
    let promotion: boolean;
    if (hasAt(buf, at, end, PROMOTIONS)) {
      promotion = true;
      at += PROMOTIONS.length;
    } else {
      const quote = byteIn(buf, 0x22, at, end);
      if (quote < 0 || quote + 1 >= end || buf[quote + 1] !== 0x2c) return false;
      promotion = false;
      at = quote + 2;
    }
    if (!hasAt(buf, at, end, OFFSET)) return false;
    const offset = numberAt(buf, at + OFFSET.length, end);
    if (Number.isNaN(offset)) return false;
    const tally = this.hooks.tally;
    if (promotion) {
      if (this.seen(client.promotions, offset)) return true;
      tally.promotion(client.index, tally.timed === 'promotions' ? sentAtIn(buf, at, end) : NaN);
    } else {
      if (this.seen(client.userChannel, offset)) return true;
      tally.userEvent(client.index, tally.timed === 'user' ? sentAtIn(buf, at, end) : NaN);
    }
    return true;
  }

  /** Whether `offset` was delivered before (counted as a duplicate); records it otherwise. */
  private seen(position: Position, offset: number): boolean {
    if (offset > position.offset) {
      if (offset > position.offset + 1 && offset - position.offset <= MAX_GAP) {
        position.gaps ??= new Set();
        for (let missing = position.offset + 1; missing < offset; missing++) position.gaps.add(missing);
      }
      position.offset = offset;
      return false;
    }
    if (position.gaps?.delete(offset)) {
      this.hooks.counters.outOfOrder++;
      return false;
    }
    this.hooks.counters.duplicates++;
    return true;
  }

  /** Frames after the handshake (and those it does not handle) that are not recognised deliveries. */
  private afterReady(client: BenchClient, link: Link, frame: Frame): void {
    switch (frame.type) {
      case 'message': {
        const promotion = frame.channel === 'promotions';
        const position = promotion ? client.promotions : client.userChannel;
        if (this.seen(position, frame.offset as number)) return;
        const sentAt = (frame.data as { sentAt?: number } | null)?.sentAt ?? NaN;
        if (promotion) this.hooks.tally.promotion(client.index, sentAt);
        else this.hooks.tally.userEvent(client.index, sentAt);
        return;
      }
      case 'reconnect':
        return this.hooks.moveRequested(client, link, frame.url as string | undefined);
      case 'subscribed':
        return this.subscribed(client, frame);
      case 'pong':
      case 'resumed':
        return;
      default:
        this.hooks.error(JSON.stringify(frame));
    }
  }

  /** A `subscribed` reply without recovery (a first subscription, another epoch): restart at its offset. */
  private subscribed(client: BenchClient, frame: Frame): void {
    if (frame.recovered === true) return; // the missed messages follow; the position advances with them
    const position = this.position(client, frame.channel as string);
    position.epoch = frame.epoch as string;
    position.offset = frame.offset as number;
    position.gaps = undefined;
  }

  private channels(client: BenchClient): string[] {
    return [`user:${client.user}`, 'promotions'];
  }

  private position(client: BenchClient, channel: string): Position {
    return channel === 'promotions' ? client.promotions : client.userChannel;
  }

  private positions(client: BenchClient): Record<string, { offset: number; epoch: string }> {
    const out: Record<string, { offset: number; epoch: string }> = {};
    for (const channel of this.channels(client)) {
      const p = this.position(client, channel);
      // The last message processed in order: a client holding messages across a gap resumes below it.
      const gap = p.gaps && p.gaps.size > 0 ? Math.min(...p.gaps) : undefined;
      if (p.epoch !== undefined)
        out[channel] = { offset: gap === undefined ? p.offset : gap - 1, epoch: p.epoch };
    }
    return out;
  }
}
