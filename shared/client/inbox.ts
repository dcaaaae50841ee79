/**
 * The client's inbox calls (docs/protocol.md 3.1 `history` and `ack`) and its read state.
 *
 * Why apart from the channel logic: these are one-shot requests matched by `ref` (a promise each,
 * with a timeout, failed with the connection), and the read positions they and the server's `read`
 * frames move; none of it changes what the client is subscribed to. The client hands it the frames
 * that concern it.
 *
 * Read state per channel is an offset within an epoch, from `subscribed.read` (the position recorded
 * when the channel was (re)subscribed), the `read` frames of the user's other connections, and the
 * answers to this client's own acks; within an epoch it never goes back (these reports may arrive out
 * of order, and the server's position only moves forward). `unread` counts from it to the channel's newest position the client knows.
 */
import type {
  AckFrame,
  ErrorFrame,
  HistoryFrame,
  HistoryRequestFrame,
  ReadFrame,
  Ref,
  SubscribedFrame,
} from '../protocol/frames.js';
import { errorFromFrame } from './wanted-channels.js';
import type { Connection } from './connection.js';
import type { Position } from './cursor.js';
import { HeraldError, type HistoryOptions, type HistoryResult, type ReadEvent } from './types.js';

/** What the inbox needs from the client that owns it. */
export interface InboxHost {
  readonly requestTimeoutMs: number;
  /** The current connection, if any. */
  connection(): Connection | undefined;
  nextRef(): number;
  /** The newest position the client knows of a wanted channel (its last message, or `subscribed`). */
  position(channel: string): Position | undefined;
  emitRead(event: ReadEvent): void;
}

interface Request {
  conn: Connection;
  timer: ReturnType<typeof setTimeout>;
  resolve(frame: HistoryFrame | ReadFrame): void;
  reject(error: HeraldError): void;
}

export class Inbox {
  private readonly reads = new Map<string, Position>();
  private readonly requests = new Map<Ref, Request>();

  constructor(private readonly host: InboxHost) {}

  history(channel: string, options: HistoryOptions = {}): Promise<HistoryResult> {
    if (typeof channel !== 'string' || channel.length === 0)
      return Promise.reject(new TypeError('channel must be a string'));
    const { since, limit } = options;
    return this.request({
      type: 'history',
      channel,
      ...(since === undefined ? {} : { since }),
      ...(limit === undefined ? {} : { limit }),
    }).then((frame) => {
      const { channel: replied, offset, epoch, complete, messages } = frame as HistoryFrame;
      return { channel: replied, offset, epoch, complete, messages: Array.isArray(messages) ? messages : [] };
    });
  }

  ack(channel: string, offset?: number): Promise<Position> {
    if (typeof channel !== 'string' || channel.length === 0)
      return Promise.reject(new TypeError('channel must be a string'));
    const known = this.host.position(channel);
    const upTo = offset ?? known?.offset;
    if (upTo === undefined || !Number.isSafeInteger(upTo) || upTo < 0)
      return Promise.reject(
        new TypeError('ack needs an offset: none given and no message seen on the channel'),
      );
    return this.request({
      type: 'ack',
      channel,
      offset: upTo,
      ...(known === undefined ? {} : { epoch: known.epoch }),
    }).then((frame) => {
      const { offset: read, epoch } = frame as ReadFrame;
      return { offset: read, epoch };
    });
  }

  /**
   * Messages of `channel` after the user's read position: undefined until the server said where it
   * stands (a `subscribed` of the user's own channel, a `read` frame, an ack).
   */
  unread(channel: string): number | undefined {
    const read = this.reads.get(channel);
    const newest = this.host.position(channel);
    if (read === undefined || newest === undefined) return undefined;
    return Math.max(0, newest.offset - (read.epoch === newest.epoch ? read.offset : 0));
  }

  // ---- server frames ------------------------------------------------------------------------------

  onHistory(frame: HistoryFrame): void {
    this.settle(frame);
  }

  onRead(frame: ReadFrame): void {
    if (
      typeof frame.channel === 'string' &&
      typeof frame.offset === 'number' &&
      typeof frame.epoch === 'string'
    )
      this.moveRead(frame.channel, { offset: frame.offset, epoch: frame.epoch });
    this.settle(frame);
  }

  /** `subscribed` of a user channel carries the read position recorded when it was answered. */
  onSubscribed(frame: SubscribedFrame): void {
    if (typeof frame.read === 'number')
      this.moveRead(frame.channel, { offset: frame.read, epoch: frame.epoch });
  }

  /** An error answering one of this inbox's requests (true), or not one of them (false). */
  onError(frame: ErrorFrame): boolean {
    const request = frame.ref === undefined ? undefined : this.requests.get(frame.ref);
    if (request === undefined || frame.ref === undefined) return false;
    this.requests.delete(frame.ref);
    clearTimeout(request.timer);
    request.reject(errorFromFrame(frame));
    return true;
  }

  /** The connection is gone: its requests fail (retryable: call again once connected). */
  dropped(conn: Connection | undefined): void {
    for (const [ref, request] of this.requests) {
      if (conn !== undefined && request.conn !== conn) continue;
      this.requests.delete(ref);
      clearTimeout(request.timer);
      request.reject(
        new HeraldError('disconnected', 'The connection closed before the reply', { retryable: true }),
      );
    }
  }

  // ---- internals ------------------------------------------------------------------------------------

  private request(frame: HistoryRequestFrame | AckFrame): Promise<HistoryFrame | ReadFrame> {
    const conn = this.host.connection();
    if (conn?.welcomed !== true)
      return Promise.reject(
        new HeraldError('not_connected', 'Not connected; try again once connected', { retryable: true }),
      );
    const ref = `inbox-${this.host.nextRef()}`;
    return new Promise<HistoryFrame | ReadFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.requests.delete(ref);
        reject(
          new HeraldError('timeout', `No reply to ${frame.type} within ${this.host.requestTimeoutMs} ms`, {
            retryable: true,
          }),
        );
      }, this.host.requestTimeoutMs);
      this.requests.set(ref, { conn, timer, resolve, reject });
      conn.send({ ...frame, ref });
    });
  }

  private settle(frame: HistoryFrame | ReadFrame): void {
    const request = frame.ref === undefined ? undefined : this.requests.get(frame.ref);
    if (request === undefined || frame.ref === undefined) return;
    this.requests.delete(frame.ref);
    clearTimeout(request.timer);
    request.resolve(frame);
  }

  /**
   * Records a read position and tells the app; never back within an epoch (the server's position only
   * moves forward, so a lower one is an older report: a `subscribed` read just before another
   * device's ack whose `read` frame came first).
   */
  private moveRead(channel: string, position: Position): void {
    const known = this.reads.get(channel);
    if (known !== undefined && known.epoch === position.epoch) {
      if (known.offset >= position.offset) return;
    }
    this.reads.set(channel, position);
    this.host.emitRead({ channel, ...position, unread: this.unread(channel) ?? 0 });
  }
}
