/**
 * Socket.IO v5 over Engine.IO v4 on the generator's own WebSocket client (wire.ts; no socket.io-client):
 * open `/socket.io/?EIO=4&transport=websocket&user=…`, the server sends `0{…}` (open), the client sends
 * `40` (connect to the main namespace), the server answers `40{…}`; the server pings with `2`, the client
 * answers `3`; events arrive as `42["event",data]`. The server joins the socket to its rooms on
 * connection, so the `40{…}` ack means the client is ready.
 *
 * Receive path: `42["promotion",` and `42["probe",` are recognised by prefix and `sentAt` is read from
 * the bytes in timed phases; nothing is parsed.
 */
import { hasAt, sentAtIn } from './bytes.js';
import {
  HANDSHAKE_TIMEOUT_MS,
  type BenchClient,
  type FleetHooks,
  type Link,
  type Protocol,
} from './client.js';
import { WireSocket } from './wire.js';

const PROMOTION = Buffer.from('42["promotion",');
const PROBE = Buffer.from('42["probe",');
const OPEN = 0x30; // '0'
const MESSAGE = 0x34; // '4'
const PING = 0x32; // '2'

export class SocketIoProtocol implements Protocol {
  constructor(private readonly hooks: FleetHooks) {}

  handshake(client: BenchClient, url: string): Promise<Link> {
    return new Promise<Link>((resolve, reject) => {
      const ws = new WireSocket(`${url}/socket.io/?EIO=4&transport=websocket&user=${client.user}`);
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
      ws.onmessage = (buf, start, end) => {
        const tally = this.hooks.tally;
        if (end - start >= 2 && buf[start] === MESSAGE && buf[start + 1] === 0x32) {
          if (hasAt(buf, start, end, PROMOTION))
            return tally.promotion(
              client.index,
              tally.timed === 'promotions' ? sentAtIn(buf, start + PROMOTION.length, end) : NaN,
            );
          if (hasAt(buf, start, end, PROBE))
            return tally.userEvent(
              client.index,
              tally.timed === 'user' ? sentAtIn(buf, start + PROBE.length, end) : NaN,
            );
          return this.hooks.error(
            `unexpected event: ${buf.toString('utf8', start, Math.min(end, start + 200))}`,
          );
        }
        if (end - start === 1 && buf[start] === PING) return ws.send('3');
        const text = buf.toString('utf8', start, end);
        if (!settled) {
          if (buf[start] === OPEN) return ws.send('40');
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
      };
      ws.onerror = (err) => (settled ? this.hooks.error(`socket error: ${err.message}`) : fail(err));
      ws.onclose = (code) => {
        link.closed = true;
        if (!settled) fail(new Error(`closed ${code} during the handshake`));
        else if (!link.closedByUs) this.hooks.closed(client, link, code);
      };
    });
  }
}
