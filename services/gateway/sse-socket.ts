/**
 * The Server-Sent Events transport: one `text/event-stream` response that a ClientConnection takes for a
 * WebSocket (client-connection.ts `ClientSocket`). A stream therefore gets exactly what a WebSocket gets —
 * the same authentication, limits, channel authorization, subscribe-time recovery, fan-out, byte
 * budget, heartbeat, drain and rebalancing — and this file only translates.
 *
 * Out: every frame the connection's outlet writes is a prepared WebSocket frame (fanout/text-frame.ts);
 * the frame writer below takes the same bytes apart (several frames may come in one write) and
 * writes each text frame as one event whose `data:` is the protocol frame's JSON, unchanged. `message`
 * and `subscribed` frames also carry `id:` with the stream's cursor: the position of every channel of
 * the stream (`channel offset epoch`, comma-separated), so an EventSource that reconnects sends it
 * back as `Last-Event-ID` and each channel resumes where it was (parseStreamCursor).
 * In: nothing. A stream's channels and token come in its URL, and the gateway hands them to the
 * connection as the `auth` and `subscribe` frames a WebSocket client would have sent.
 *
 * Heartbeat: `ping()` writes an `event: ping` (a named event: EventSource's `onmessage` does not see
 * it; the SDK does). There is no pong in SSE: a write the response accepts counts as one, and a peer
 * that stops reading is closed by the byte budget like any slow consumer. A close writes
 * `event: close` with `{code, reason}` (the WebSocket close code) and ends the response.
 *
 * Cost: the translation (a string per frame and a prefix match for the cursor) is paid by SSE
 * recipients only; WebSocket recipients share prepared frames as before.
 */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import WebSocket from 'ws';
import { parseChannel } from '../../shared/protocol/channels.js';
import type { ClientSocket } from './client-connection.js';
import type { FrameStream } from './fanout/outlet.js';

/** A channel position as a stream's cursor holds it. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** The protocol frames that move a channel's position, and where the position sits in their JSON. */
const POSITIONED =
  /^\{"type":"(?:message|subscribed)","channel":"([^"\\]+)","offset":(\d+),"epoch":"([^"\\]+)"/;

/** A stream not finished this long after its close event is destroyed. */
const CLOSE_TIMEOUT_MS = 5_000;

/** Longest Last-Event-ID taken (a cursor of WS_MAX_SUBSCRIPTIONS channels fits many times over). */
export const MAX_CURSOR_LENGTH = 16_384;
const EPOCH = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Reads a cursor (an event's `id:`, sent back as Last-Event-ID): `channel offset epoch` entries
 * separated by commas. Undefined when it is not one (the stream is then refused 400, not guessed at).
 */
export function parseStreamCursor(text: string): Map<string, StreamPosition> | undefined {
  const cursor = new Map<string, StreamPosition>();
  if (text.trim() === '') return cursor;
  if (text.length > MAX_CURSOR_LENGTH) return undefined;
  for (const entry of text.split(',')) {
    const parts = entry.trim().split(' ');
    if (parts.length !== 3) return undefined;
    const [channel, offsetText, epoch] = parts as [string, string, string];
    const offset = Number(offsetText);
    if (
      parseChannel(channel) === undefined ||
      !/^\d{1,16}$/.test(offsetText) ||
      !Number.isSafeInteger(offset)
    )
      return undefined;
    if (!EPOCH.test(epoch) || cursor.has(channel)) return undefined;
    cursor.set(channel, { offset, epoch });
  }
  return cursor;
}

export class SseSocket extends EventEmitter implements ClientSocket {
  readyState: number = WebSocket.OPEN;
  /** Where the outlet writes (the name ws gives its TCP socket, which the outlet writes to). */
  readonly _socket: FrameStream;
  /** Each channel's `offset epoch`, in the order channels first got a position. */
  private readonly cursor = new Map<string, string>();
  private cursorText = '';
  private closeCode = 1006;

  /**
   * `resumed`: the positions the stream resumes from (its Last-Event-ID). They stay in the cursor
   * until each channel's own frames move them, so a stream cut before a channel is subscribed again
   * still names where that channel was.
   */
  constructor(
    private readonly res: ServerResponse,
    resumed: Iterable<[string, StreamPosition]> = [],
  ) {
    super();
    this._socket = new SseFrameWriter(this, res);
    for (const [channel, { offset, epoch }] of resumed) this.cursor.set(channel, `${offset} ${epoch}`);
    this.cursorText = this.cursorOf();
    res.once('close', () => {
      this.readyState = WebSocket.CLOSED;
      this.emit('close', this.closeCode);
    });
    res.on('error', () => res.destroy());
  }

  get bufferedAmount(): number {
    return this.res.writableLength;
  }

  /** Writes a close event (the WebSocket close code and reason) and ends the response. */
  close(code: number, reason: string): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.readyState = WebSocket.CLOSING;
    this.closeCode = code;
    this.res.end(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`);
    // A peer that does not read (a slow consumer) would hold the response open: cut it, as ws does
    // with a closing handshake that never completes. A response that finished clears it.
    const cut = setTimeout(() => this.res.destroy(), CLOSE_TIMEOUT_MS);
    cut.unref();
    this.res.once('close', () => clearTimeout(cut));
  }

  terminate(): void {
    this.readyState = WebSocket.CLOSING;
    this.res.destroy();
  }

  /** A heartbeat event; a response that takes it counts as alive (SSE has no pong). */
  ping(): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.res.write(`event: ping\ndata: ${Date.now()}\n\n`);
    this.emit('pong');
  }

  /** The event for one protocol frame (JSON text), with the cursor as its id when it moves it. */
  event(json: string): string {
    const data = /[\r\n]/.test(json) ? json.split(/\r\n|\r|\n/).join('\ndata: ') : json;
    const positioned = POSITIONED.exec(json);
    if (positioned === null) return `data: ${data}\n\n`;
    const [, channel, offset, epoch] = positioned as unknown as [string, string, string, string];
    const entry = `${offset} ${epoch}`;
    if (this.cursor.get(channel) !== entry) {
      this.cursor.set(channel, entry);
      this.cursorText = this.cursorOf();
    }
    return `id: ${this.cursorText}\ndata: ${data}\n\n`;
  }

  private cursorOf(): string {
    let text = '';
    for (const [name, position] of this.cursor) text += `${text === '' ? '' : ','}${name} ${position}`;
    return text;
  }
}

/** Takes the outlet's prepared WebSocket frames and writes them to the response as events. */
class SseFrameWriter implements FrameStream {
  constructor(
    private readonly owner: SseSocket,
    private readonly res: ServerResponse,
  ) {}

  get writableLength(): number {
    return this.res.writableLength;
  }

  write(frames: Buffer): boolean {
    let text = '';
    let at = 0;
    while (at + 2 <= frames.length) {
      const opcode = frames[at]! & 0x0f;
      let length = frames[at + 1]! & 0x7f;
      let header = 2;
      if (length === 126) {
        length = frames.readUInt16BE(at + 2);
        header = 4;
      } else if (length === 127) {
        length = Number(frames.readBigUInt64BE(at + 2));
        header = 10;
      }
      const start = at + header;
      at = start + length;
      // Text frames only: a pong answers a WebSocket ping, which an SSE client cannot send.
      if (opcode === 0x1) text += this.owner.event(frames.toString('utf8', start, at));
    }
    return text === '' || this.res.write(text);
  }

  once(event: 'drain' | 'close', listener: () => void): this {
    this.res.once(event, listener);
    return this;
  }

  off(event: 'drain' | 'close', listener: () => void): this {
    this.res.off(event, listener);
    return this;
  }
}
