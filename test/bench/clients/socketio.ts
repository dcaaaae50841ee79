/**
 * Socket.IO v5 over Engine.IO v4 on a raw `ws` client (no socket.io-client): open
 * `/socket.io/?EIO=4&transport=websocket&user=…`, the server sends `0{…}` (open), the client sends `40`
 * (connect to the main namespace), the server answers `40{…}`; the server pings with `2`, the client
 * answers `3`; events arrive as `42["event",data]`. The server joins the socket to its rooms on
 * connection, so the `40{…}` ack means the client is ready.
 *
 * Receive path: `42["promotion",` and `42["probe",` are recognised by prefix and `sentAt` is read from
 * the bytes in timed phases; nothing is parsed.
 */
import WebSocket from 'ws';
import { hasAt, sentAtIn } from './bytes.js';
import {
  HANDSHAKE_TIMEOUT_MS,
  WS_OPTIONS,
  type BenchClient,
  type FleetHooks,
  type Link,
  type Protocol,
} from './client.js';

const PROMOTION = Buffer.from('42["promotion",');
const PROBE = Buffer.from('42["probe",');
const OPEN = 0x30; // '0'
const MESSAGE = 0x34; // '4'
const PING = 0x32; // '2'

export class SocketIoProtocol implements Protocol {
  constructor(private readonly hooks: FleetHooks) {}

  handshake(client: BenchClient, url: string): Promise<Link> {
    return new Promise<Link>((resolve, reject) => {
      const ws = new WebSocket(`${url}/socket.io/?EIO=4&transport=websocket&user=${client.user}`, WS_OPTIONS);
      const link: Link = { ws, url, closedByUs: false, closed: false };
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        link.closedByUs = true;
        ws.terminate();
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new Error(`no namespace connect within ${HANDSHAKE_TIMEOUT_MS} ms`)),
        HANDSHAKE_TIMEOUT_MS,
      );
      ws.on('message', (buf: Buffer) => {
        const tally = this.hooks.tally;
        if (buf[0] === MESSAGE && buf[1] === 0x32) {
          if (hasAt(buf, 0, PROMOTION))
            return tally.promotion(
              client.index,
              tally.timed === 'promotions' ? sentAtIn(buf, PROMOTION.length) : NaN,
            );
          if (hasAt(buf, 0, PROBE))
            return tally.userEvent(client.index, tally.timed === 'user' ? sentAtIn(buf, PROBE.length) : NaN);
          return this.hooks.error(`unexpected event: ${buf.toString('utf8', 0, 200)}`);
        }
        if (buf.length === 1 && buf[0] === PING) return ws.send('3');
        const text = buf.toString('utf8');
        if (!settled) {
          if (buf[0] === OPEN) return ws.send('40');
          if (text.startsWith('40')) {
            settled = true;
            clearTimeout(timer);
            return resolve(link);
          }
          return fail(new Error(`handshake: unexpected ${text.slice(0, 200)}`));
        }
        if (text.startsWith('41')) {
          // The server disconnected the socket from the namespace: a close as far as the app can tell.
          this.hooks.error(`disconnect packet ${text}`);
          return ws.terminate();
        }
        this.hooks.error(`unexpected packet: ${text.slice(0, 200)}`);
      });
      ws.on('error', (err) => (settled ? this.hooks.error(`socket error: ${err.message}`) : fail(err)));
      ws.on('close', (code) => {
        link.closed = true;
        if (!settled) fail(new Error(`closed ${code} during the handshake`));
        else if (!link.closedByUs) this.hooks.closed(client, link, code);
      });
    });
  }
}
