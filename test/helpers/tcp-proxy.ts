/**
 * A TCP proxy the test controls, between a client and a server it must not touch (the machine's
 * shared RabbitMQ): `cut` resets every live connection as a network failure would, `refuse` turns
 * new connections away until `accept`. Node's `net` only, no external tools.
 */
import net, { type AddressInfo, type Server, type Socket } from 'node:net';

export interface ProxyTarget {
  host: string;
  port: number;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

export class TcpProxy {
  private readonly pairs = new Set<Pair>();
  private refusing = false;
  private refusedCount = 0;

  private constructor(
    private readonly server: Server,
    private readonly target: ProxyTarget,
  ) {
    server.on('connection', (client) => this.forward(client));
  }

  /** Listens on an ephemeral port of 127.0.0.1 and forwards every connection to `target`. */
  static async start(target: ProxyTarget): Promise<TcpProxy> {
    const server = net.createServer();
    const proxy = new TcpProxy(server, target);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  readonly host = '127.0.0.1';

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Connections being forwarded right now. */
  get connections(): number {
    return this.pairs.size;
  }

  /** Connections turned away since the proxy started. */
  get refused(): number {
    return this.refusedCount;
  }

  /** Resets every current connection: the client sees ECONNRESET, the server sees its peer go. */
  cut(): void {
    for (const { client, upstream } of [...this.pairs]) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  /** From now on, new connections are reset as soon as they arrive (current ones are untouched). */
  refuse(): void {
    this.refusing = true;
  }

  /** Forwards new connections again. */
  accept(): void {
    this.refusing = false;
  }

  /** Cuts everything and stops listening. */
  async close(): Promise<void> {
    this.refuse();
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(client: Socket): void {
    client.on('error', () => undefined); // resets are the point of this proxy
    if (this.refusing) {
      this.refusedCount += 1;
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    upstream.on('error', () => undefined);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    const drop = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
