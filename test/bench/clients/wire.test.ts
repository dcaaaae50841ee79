/**
 * The load generator's WebSocket client (wire.ts) against a `ws` server (handshake, masking, lengths,
 * ping, both closing handshakes) and against a raw TCP server that writes frames split anywhere or many
 * per write, and breaks the protocol.
 */
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../helpers/cleanups.js';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { WireSocket } from './wire.js';

interface Seen {
  opened: boolean;
  messages: string[];
  errors: string[];
  closes: number[];
}

const cleanups = cleanupAfterEach();

function watch(ws: WireSocket): Seen {
  const seen: Seen = { opened: false, messages: [], errors: [], closes: [] };
  ws.onopen = () => (seen.opened = true);
  ws.onmessage = (buf, start, end) => seen.messages.push(buf.toString('utf8', start, end));
  ws.onerror = (err) => seen.errors.push(err.message);
  ws.onclose = (code) => seen.closes.push(code);
  return seen;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function wsServer(): Promise<{ url: string; next: () => Promise<ServerSocket> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const waiting: ServerSocket[] = [];
  wss.on('connection', (socket) => waiting.push(socket));
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/path`,
    next: async () => {
      await until(() => waiting.length > 0, 'a connection');
      return waiting.shift()!;
    },
  };
}

/** A TCP server that answers the upgrade with `respond` (default: a valid 101) and hands over the socket. */
async function rawServer(
  respond?: (key: string) => string,
): Promise<{ url: string; next: () => Promise<Socket>; requests: string[] }> {
  const sockets: Socket[] = [];
  const all: Socket[] = [];
  const requests: string[] = [];
  const server: Server = createServer((socket) => {
    all.push(socket);
    socket.setNoDelay(true);
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      requests.push(head.slice(0, end));
      const key = /sec-websocket-key: (.*)\r\n/i.exec(head)![1]!;
      const accept = createHash('sha1')
        .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
        .digest('base64');
      socket.write(
        respond?.(key) ??
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        'latin1',
      );
      sockets.push(socket);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const s of all) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/raw?x=1`,
    requests,
    next: async () => {
      await until(() => sockets.length > 0, 'a connection');
      return sockets.shift()!;
    },
  };
}

/** An unmasked server frame. */
function serverFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const n = payload.length;
  const header = n < 126 ? Buffer.from([0, n]) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (n >= 126 && n < 65536) {
    header[1] = 126;
    header.writeUInt16BE(n, 2);
  } else if (n >= 65536) {
    header[1] = 127;
    header.writeUInt32BE(0, 2);
    header.writeUInt32BE(n, 6);
  }
  header[0] = (fin ? 0x80 : 0) | opcode;
  return Buffer.concat([header, payload]);
}

const text = (n: number, seed: string): string => seed.repeat(Math.ceil(n / seed.length)).slice(0, n);

describe('the bench WebSocket client (wire.ts)', () => {
  it('talks to a ws server: 7-, 16- and 64-bit lengths, masked sends, pings, the server closing', async () => {
    const server = await wsServer();
    const ws = new WireSocket(server.url);
    const seen = watch(ws);
    const peer = await server.next();
    const received: string[] = [];
    peer.on('message', (data: Buffer) => received.push(data.toString()));
    await until(() => seen.opened, 'open');
    const sizes = [0, 5, 125, 126, 65535, 65536, 300_000];
    for (const n of sizes) peer.send(text(n, `m${n}-`));
    await until(() => seen.messages.length === sizes.length, 'messages');
    expect(seen.messages).toEqual(sizes.map((n) => text(n, `m${n}-`)));
    ws.send('hello');
    ws.send('é'.repeat(200)); // 400 bytes: a 16-bit length, masked
    await until(() => received.length === 2, 'client messages');
    expect(received).toEqual(['hello', 'é'.repeat(200)]);
    const pongs: string[] = [];
    peer.on('pong', (data: Buffer) => pongs.push(data.toString()));
    peer.ping('are you there');
    await until(() => pongs.length === 1, 'pong');
    expect(pongs).toEqual(['are you there']);
    const serverClosed = new Promise<number>((resolve) => peer.on('close', (code: number) => resolve(code)));
    peer.close(4001, 'go away');
    await until(() => seen.closes.length === 1, 'close');
    expect(seen.closes).toEqual([4001]);
    expect(await serverClosed).toBe(4001); // the close frame was answered
    expect(seen.errors).toEqual([]);
  });

  it('closes from the client side with a code the server sees', async () => {
    const server = await wsServer();
    const ws = new WireSocket(server.url);
    const seen = watch(ws);
    const peer = await server.next();
    await until(() => seen.opened, 'open');
    const serverClosed = new Promise<number>((resolve) => peer.on('close', (code: number) => resolve(code)));
    ws.close(1000);
    expect(await serverClosed).toBe(1000);
    await until(() => seen.closes.length === 1, 'close');
    expect(seen.closes).toEqual([1000]);
    ws.send('ignored once closed');
  });

  it('reports 1006 when the connection drops without a close frame, and after terminate()', async () => {
    const server = await wsServer();
    const a = new WireSocket(server.url);
    const seenA = watch(a);
    (await server.next()).terminate();
    await until(() => seenA.closes.length === 1, 'close a');
    expect(seenA.closes).toEqual([1006]);
    const b = new WireSocket(server.url);
    const seenB = watch(b);
    await server.next();
    await until(() => seenB.opened, 'open b');
    b.terminate();
    await until(() => seenB.closes.length === 1, 'close b');
    expect(seenB.closes).toEqual([1006]);
    expect([...seenA.errors, ...seenB.errors]).toEqual([]);
  });

  it('parses frames split at every byte, many frames per write, and frames right after the 101', async () => {
    const messages = ['{"type":"welcome"}', text(200, 'x'), text(70_000, 'y'), 'last'];
    const frames = Buffer.concat(messages.map((m) => serverFrame(0x1, Buffer.from(m))));
    const ping = serverFrame(0x9, Buffer.from('p'));
    // The first frame in the same write as the 101 response.
    const server = await rawServer((key) => {
      const accept = createHash('sha1')
        .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
        .digest('base64');
      return (
        `HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: upgrade\r\n` +
        `sec-websocket-accept: ${accept}\r\n\r\n` +
        serverFrame(0x1, Buffer.from('first')).toString('latin1')
      );
    });
    const ws = new WireSocket(server.url);
    const seen = watch(ws);
    const peer = await server.next();
    expect(server.requests[0]).toMatch(/^GET \/raw\?x=1 HTTP\/1\.1\r\n/);
    await until(() => seen.messages.length === 1, 'first');
    const fromClient: Buffer[] = [];
    peer.on('data', (chunk: Buffer) => fromClient.push(chunk));
    // Many per write.
    peer.write(Buffer.concat([frames, ping, frames]));
    await until(() => seen.messages.length === 1 + 2 * messages.length, 'many per write');
    // Split: the short frames and the ping byte by byte, the long one in uneven pieces.
    const small = Buffer.concat([serverFrame(0x1, Buffer.from(messages[0]!)), ping]);
    for (let i = 0; i < small.length; i++) {
      peer.write(small.subarray(i, i + 1));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const big = serverFrame(0x1, Buffer.from(messages[2]!));
    for (let i = 0; i < big.length; i += 9_001) {
      peer.write(big.subarray(i, i + 9_001));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await until(() => seen.messages.length === 3 + 2 * messages.length, 'split');
    expect(seen.messages).toEqual(['first', ...messages, ...messages, messages[0], messages[2]]);
    // Two pings answered with masked pongs carrying 'p'.
    await until(() => Buffer.concat(fromClient).length >= 2 * 7, 'pongs');
    const out = Buffer.concat(fromClient);
    for (const at of [0, 7]) {
      expect(out[at]).toBe(0x8a);
      expect(out[at + 1]).toBe(0x80 | 1);
      expect(out[at + 6]! ^ out[at + 2]!).toBe('p'.charCodeAt(0));
    }
    expect(seen.errors).toEqual([]);
  });

  it('rejects fragmented messages, masked server frames and reserved bits', async () => {
    for (const bad of [
      serverFrame(0x1, Buffer.from('part'), false),
      Buffer.from([0x81, 0x81, 1, 2, 3, 4, 0x41]),
      Buffer.from([0xc1, 0x01, 0x41]),
    ]) {
      const server = await rawServer();
      const ws = new WireSocket(server.url);
      const seen = watch(ws);
      const peer = await server.next();
      await until(() => seen.opened, 'open');
      const fromClient: Buffer[] = [];
      peer.on('data', (chunk: Buffer) => fromClient.push(chunk));
      peer.on('end', () => peer.end());
      peer.write(Buffer.concat([bad, serverFrame(0x1, Buffer.from('after'))]));
      await until(() => seen.closes.length === 1, 'close');
      expect(seen.messages).toEqual([]);
      expect(seen.errors).toHaveLength(1);
      expect(seen.errors[0]).toMatch(/^Invalid WebSocket frame/);
      const out = Buffer.concat(fromClient);
      expect(out[0]).toBe(0x88); // a close frame with 1002
      expect(((out[6]! ^ out[2]!) << 8) | (out[7]! ^ out[3]!)).toBe(1002);
    }
  });

  it('fails the handshake on a refused connection, a non-101 answer or a wrong accept', async () => {
    const refused = await rawServer();
    const port = new URL(refused.url).port;
    await cleanups.pop()!(); // the server is gone: the port refuses
    const cases: [string, string][] = [[`ws://127.0.0.1:${port}/`, 'ECONNREFUSED']];
    const unauthorized = await rawServer(() => 'HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
    cases.push([unauthorized.url, 'Unexpected server response: 401']);
    const wrongAccept = await rawServer(
      () =>
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n',
    );
    cases.push([wrongAccept.url, 'Invalid Sec-WebSocket-Accept header']);
    for (const [url, message] of cases) {
      const ws = new WireSocket(url);
      const seen = watch(ws);
      await until(() => seen.closes.length === 1, `close after ${message}`);
      expect(seen.opened).toBe(false);
      expect(seen.errors).toHaveLength(1);
      expect(seen.errors[0]).toContain(message);
      expect(seen.closes).toEqual([1006]);
      expect(() => ws.send('x')).not.toThrow(); // closed: ignored
    }
  });
});
