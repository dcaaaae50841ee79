/**
 * The load generator's WebSocket client: RFC 6455 on `node:net`, only what the bench needs, written for a
 * cheap receive path (the `ws` client cost about 2.4 ms of generator CPU per 1,000 deliveries, enough to
 * saturate the generator's core during Herald's bursts).
 *
 * - Handshake: HTTP/1.1 `GET` with `Upgrade: websocket` and a random `Sec-WebSocket-Key`; the response
 *   must be `101` with `Upgrade: websocket`, `Connection: Upgrade` and the matching
 *   `Sec-WebSocket-Accept`, and no subprotocol or extension (none is offered: no compression).
 * - Receiving: every socket reads into one shared buffer (`net` `onread`: no Buffer allocated and no
 *   stream machinery per read; reads and their callbacks run one at a time on the event loop). Frames
 *   are parsed in place and a message is handed over as (buffer, start, end), valid only during the
 *   call; a frame split across reads is copied into a buffer of its own until it is complete. Text and
 *   binary messages go to `onmessage` alike (the servers send text only); pings are answered with a
 *   pong, a close frame with a close frame, then the socket is ended. UTF-8 is not validated (as
 *   before: `skipUTF8Validation`).
 * - Not supported, rejected as a protocol error (`onerror`, close 1002 sent, socket ended): fragmented
 *   messages (the servers do not fragment), RSV bits (no extension), masked server frames, unknown
 *   opcodes, control frames over 125 bytes, payloads over MAX_PAYLOAD.
 * - Sending: text frames, masked with a fresh random key each, as RFC 6455 requires of a client.
 *
 * Events follow the `ws` client the generator used before: `onerror` only for a failed handshake (the
 * connection error itself, `Unexpected server response: 401`, …) or a protocol error, never for a socket
 * error once open; `onclose(code)` once the TCP connection is gone, with the code of the server's close
 * frame, 1005 when it had none, 1006 when there was no close frame.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** The largest payload accepted (the servers' frames are a few hundred bytes). */
const MAX_PAYLOAD = 64 * 1024 * 1024;
/** The longest response head accepted before `\r\n\r\n`. */
const MAX_HEAD = 16 * 1024;
/** After our close frame, the server has this long to close the connection (as `ws`). */
const CLOSE_TIMEOUT_MS = 30_000;
/** Header of a server frame: 2 bytes, + 2 or 8 of extended length (no mask). */
const LONGEST_HEADER = 10;
const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * Every socket's reads land here. Safe to share: the event loop reads one socket at a time and runs the
 * read's callback before the next read; nothing keeps a reference into it past the callback.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

const enum State {
  Connecting,
  Open,
  Closing,
  Closed,
}

const noop = (): void => undefined;

export class WireSocket {
  /** The handshake succeeded: frames may be sent. */
  onopen: () => void = noop;
  /** A whole message: its payload is `buf[start, end)`, valid only during the call. */
  onmessage: (buf: Buffer, start: number, end: number) => void = noop;
  /** The handshake failed, or the server broke the protocol; `onclose` follows. */
  onerror: (err: Error) => void = noop;
  /** The connection is gone: the server's close code, 1005 (close frame without one) or 1006 (no close frame). */
  onclose: (code: number) => void = noop;

  private state = State.Connecting;
  private readonly socket: Socket;
  private readonly accept: string;
  /** The response head received so far, while it is incomplete. */
  private head: Buffer | undefined;
  /** A frame split across reads: its first `held` bytes (sized for the whole frame once its header is in). */
  private partial: Buffer | undefined;
  private held = 0;
  /** Frames are parsed (not after a close frame or a protocol error). */
  private reading = true;
  private closeCode = 1006;
  private closeSent = false;
  private errored = false;
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(url: string) {
    const target = new URL(url);
    if (target.protocol !== 'ws:') throw new Error(`unsupported URL ${url} (ws: only)`);
    const key = randomBytes(16).toString('base64');
    this.accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    this.socket = connect({
      host: target.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(target.port || 80),
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (bytes) => this.read(bytes) },
    });
    this.socket.on('error', (err) => {
      // Once open, a socket error only closes the connection (1006), as with `ws`.
      if (this.state === State.Connecting) this.error(err);
    });
    this.socket.on('close', () => this.closed());
    this.socket.write(
      `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
        `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  }

  get isOpen(): boolean {
    return this.state === State.Open;
  }

  /** Sends a text message; throws before the handshake finished, does nothing once closing. */
  send(text: string): void {
    if (this.state === State.Connecting) throw new Error('WebSocket is not open yet');
    if (this.state === State.Open) this.socket.write(encode(0x1, Buffer.from(text, 'utf8')));
  }

  /** Starts the closing handshake (a close frame with `code`); before the handshake, `terminate()`. */
  close(code = 1000): void {
    if (this.state === State.Connecting) return this.terminate();
    if (this.state !== State.Open) return;
    this.state = State.Closing;
    this.sendClose(code);
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS);
  }

  /** Drops the connection at once (no close frame): `onclose(1006)` follows. */
  terminate(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closing;
    this.stopReading();
    this.socket.destroy();
  }

  private read(bytes: number): boolean {
    if (this.state === State.Connecting) this.response(READ_BUFFER.subarray(0, bytes));
    else if (this.reading) this.frames(READ_BUFFER, 0, bytes);
    return true;
  }

  /** The handshake response (possibly followed by the first frames in the same read). */
  private response(chunk: Buffer): void {
    const data = this.head ? Buffer.concat([this.head, chunk]) : chunk;
    const end = data.indexOf(HEAD_END);
    if (end < 0) {
      if (data.length > MAX_HEAD) return this.handshakeFailed('response head too large');
      this.head = Buffer.from(data); // a copy: `chunk` is the shared read buffer
      return;
    }
    this.head = undefined;
    const problem = this.checkResponse(data.toString('latin1', 0, end));
    if (problem !== undefined) return this.handshakeFailed(problem);
    this.state = State.Open;
    this.onopen();
    if (this.reading && end + HEAD_END.length < data.length)
      this.frames(data, end + HEAD_END.length, data.length);
  }

  /** What is wrong with the response head, or undefined when it accepts the upgrade. */
  private checkResponse(head: string): string | undefined {
    const lines = head.split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!status) return `invalid response: ${(lines[0] ?? '').slice(0, 100)}`;
    if (status[1] !== '101') return `Unexpected server response: ${status[1]}`;
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    if (headers.get('upgrade')?.toLowerCase() !== 'websocket') return 'Invalid Upgrade header';
    if (!/(^|,)\s*upgrade\s*(,|$)/i.test(headers.get('connection') ?? '')) return 'Invalid Connection header';
    if (headers.get('sec-websocket-accept') !== this.accept) return 'Invalid Sec-WebSocket-Accept header';
    if (headers.has('sec-websocket-protocol')) return 'Server sent a subprotocol but none was requested';
    if (headers.has('sec-websocket-extensions'))
      return 'Server sent a Sec-WebSocket-Extensions header but no extension was requested';
    return undefined;
  }

  private handshakeFailed(message: string): void {
    this.error(new Error(message));
    this.stopReading();
    this.socket.destroy();
  }

  /** Parses the frames in `buf[at, end)`: completes a held partial frame first, holds a trailing one. */
  private frames(buf: Buffer, at: number, end: number): void {
    if (this.partial) at = this.fill(buf, at, end);
    while (at < end && this.reading) {
      const total = frameLength(buf, at, end);
      if (total < 0 || total > end - at) return this.hold(buf, at, end, total);
      this.frame(buf, at, total);
      at += total;
    }
  }

  /** Keeps the incomplete frame `buf[at, end)` (its full length `total`, or -1 while its header is short). */
  private hold(buf: Buffer, at: number, end: number, total: number): void {
    if (total > LONGEST_HEADER + MAX_PAYLOAD) return this.protocolError('payload too large');
    const partial = Buffer.allocUnsafe(Math.max(total, LONGEST_HEADER));
    buf.copy(partial, 0, at, end);
    this.partial = partial;
    this.held = end - at;
  }

  /** Adds bytes from `buf[at, end)` to the held partial frame, handles it once whole; the next unread index. */
  private fill(buf: Buffer, at: number, end: number): number {
    let partial = this.partial!;
    let held = this.held;
    let total = frameLength(partial, 0, held);
    while (total < 0 && at < end) {
      partial[held++] = buf[at++]!;
      total = frameLength(partial, 0, held);
    }
    if (total < 0) {
      this.held = held;
      return at;
    }
    if (total > LONGEST_HEADER + MAX_PAYLOAD) {
      this.protocolError('payload too large');
      return end;
    }
    if (partial.length < total) {
      const grown = Buffer.allocUnsafe(total);
      partial.copy(grown, 0, 0, held);
      partial = grown;
    }
    const take = Math.min(total - held, end - at);
    buf.copy(partial, held, at, at + take);
    held += take;
    at += take;
    if (held < total) {
      this.partial = partial;
      this.held = held;
      return at;
    }
    this.partial = undefined;
    this.held = 0;
    this.frame(partial, 0, total);
    return at;
  }

  /** One whole frame, `buf[at, at + total)`. */
  private frame(buf: Buffer, at: number, total: number): void {
    const b0 = buf[at]!;
    const b1 = buf[at + 1]!;
    const length7 = b1 & 0x7f;
    const start = at + (length7 < 126 ? 2 : length7 === 126 ? 4 : 10);
    const end = at + total;
    const opcode = b0 & 0x0f;
    // The hot path: an unmasked, unfragmented text frame.
    if (b0 === 0x81 && (b1 & 0x80) === 0) return this.onmessage(buf, start, end);
    if ((b1 & 0x80) !== 0) return this.protocolError('masked server frame');
    if ((b0 & 0x70) !== 0) return this.protocolError('RSV bits set (no extension was negotiated)');
    if ((b0 & 0x80) === 0 || opcode === 0x0)
      return this.protocolError('fragmented message (the bench client does not reassemble fragments)');
    if (opcode >= 0x8 && end - start > 125) return this.protocolError('control frame over 125 bytes');
    switch (opcode) {
      case 0x1:
      case 0x2:
        return this.onmessage(buf, start, end);
      case 0x8:
        return this.closeFrame(buf, start, end);
      case 0x9:
        if (this.state === State.Open) this.socket.write(encode(0xa, buf.subarray(start, end)));
        return;
      case 0xa:
        return;
      default:
        return this.protocolError(`unknown opcode ${opcode}`);
    }
  }

  /** The server's close frame: answered with one (its code echoed) unless ours went first, then the socket is ended. */
  private closeFrame(buf: Buffer, start: number, end: number): void {
    if (end - start === 1) return this.protocolError('close frame with a 1-byte payload');
    this.closeCode = end - start >= 2 ? buf.readUInt16BE(start) : 1005;
    this.stopReading();
    if (!this.closeSent) this.sendClose(this.closeCode === 1005 ? undefined : this.closeCode);
    this.state = State.Closing;
    this.socket.end();
  }

  private sendClose(code: number | undefined): void {
    this.closeSent = true;
    const payload = Buffer.alloc(code === undefined ? 0 : 2);
    if (code !== undefined) payload.writeUInt16BE(code, 0);
    this.socket.write(encode(0x8, payload));
  }

  /** The server broke the protocol: reported, a 1002 close frame sent, the socket ended. */
  private protocolError(message: string): void {
    this.stopReading();
    this.error(new Error(`Invalid WebSocket frame: ${message}`));
    if (this.state === State.Open) {
      this.state = State.Closing;
      this.sendClose(1002);
    }
    this.socket.end();
    this.closeTimer ??= setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS);
  }

  private stopReading(): void {
    this.reading = false;
    this.partial = undefined;
    this.head = undefined;
  }

  private error(err: Error): void {
    if (this.errored) return;
    this.errored = true;
    this.onerror(err);
  }

  private closed(): void {
    const connecting = this.state === State.Connecting;
    this.state = State.Closed;
    this.stopReading();
    clearTimeout(this.closeTimer);
    if (connecting) this.error(new Error('socket hang up'));
    this.onclose(this.closeCode);
  }
}

/**
 * Length (header + payload) of the server frame starting at `buf[at]`, or -1 when its header is not all
 * in `buf[at, end)`. A length over 2^32 comes out as Infinity (rejected as too large).
 */
function frameLength(buf: Buffer, at: number, end: number): number {
  if (end - at < 2) return -1;
  const length7 = buf[at + 1]! & 0x7f;
  if (length7 < 126) return 2 + length7;
  if (length7 === 126) return end - at < 4 ? -1 : 4 + ((buf[at + 2]! << 8) | buf[at + 3]!);
  if (end - at < 10) return -1;
  return buf.readUInt32BE(at + 2) > 0 ? Infinity : 10 + buf.readUInt32BE(at + 6);
}

/** A client frame: FIN, `opcode`, `payload` masked with a random key. */
function encode(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const maskAt = 2 + lengthBytes;
  const out = Buffer.allocUnsafe(maskAt + 4 + length);
  out[0] = 0x80 | opcode;
  if (lengthBytes === 0) out[1] = 0x80 | length;
  else if (lengthBytes === 2) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    out.writeUInt32BE(length >>> 0, 6);
  }
  randomBytes(4).copy(out, maskAt);
  for (let i = 0; i < length; i++) out[maskAt + 4 + i] = payload[i]! ^ out[maskAt + (i & 3)]!;
  return out;
}

/** Random bytes for keys and masks, taken from a pool refilled 4 KiB at a time. */
let pool = Buffer.alloc(0);
let poolAt = 0;
function randomBytes(n: number): Buffer {
  if (poolAt + n > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(4096));
    poolAt = 0;
  }
  poolAt += n;
  return pool.subarray(poolAt - n, poolAt);
}
