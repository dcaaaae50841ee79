/**
 * A TCP load balancer for tests, in front of several node processes, so clients know one URL as they
 * would behind nginx or HAProxy: round-robin, or least-connections (nginx's `least_conn`, the
 * strategy infra/ recommends). A backend that refuses the connection (a killed node) is skipped for
 * the next one, like a passive health check; when a backend dies, the client connections it held are
 * closed with it; `add` puts a new backend in (scale-out). Node's `net` only.
 */
import net, { type AddressInfo, type Server, type Socket } from 'node:net';

export class TcpBalancer {
  private next = 0;
  private readonly sockets = new Set<Socket>();
  /** How many client connections each backend port took. */
  readonly accepted = new Map<number, number>();
  /** Client connections open through each backend port now. */
  private readonly open = new Map<number, number>();

  private constructor(
    private readonly server: Server,
    private readonly ports: number[],
    private readonly strategy: 'round-robin' | 'least-connections',
  ) {
    server.on('connection', (client) => this.forward(client, 0));
  }

  /** Listens on an ephemeral port of 127.0.0.1 and spreads connections over `ports` of 127.0.0.1. */
  static async start(
    ports: readonly number[],
    strategy: 'round-robin' | 'least-connections' = 'round-robin',
  ): Promise<TcpBalancer> {
    const balancer = new TcpBalancer(net.createServer(), [...ports], strategy);
    await new Promise<void>((resolve, reject) => {
      balancer.server.once('error', reject);
      balancer.server.listen(0, '127.0.0.1', () => resolve());
    });
    return balancer;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** A new backend (a node that just started) takes connections from now on. */
  add(port: number): void {
    if (!this.ports.includes(port)) this.ports.push(port);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(client: Socket, tried: number): void {
    client.on('error', () => undefined);
    client.pause();
    if (tried >= this.ports.length) {
      client.destroy();
      return;
    }
    const port = this.choose(tried);
    const upstream = net.connect(port, '127.0.0.1');
    const refused = (): void => {
      upstream.destroy();
      if (!client.destroyed) this.forward(client, tried + 1);
    };
    upstream.once('error', refused);
    upstream.once('connect', () => {
      upstream.off('error', refused);
      upstream.on('error', () => undefined);
      this.accepted.set(port, (this.accepted.get(port) ?? 0) + 1);
      this.open.set(port, (this.open.get(port) ?? 0) + 1);
      this.sockets.add(client);
      this.sockets.add(upstream);
      let dropped = false;
      const drop = (): void => {
        if (!dropped) this.open.set(port, (this.open.get(port) ?? 1) - 1);
        dropped = true;
        this.sockets.delete(client);
        this.sockets.delete(upstream);
        client.destroy();
        upstream.destroy();
      };
      client.once('close', drop);
      upstream.once('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }

  /** The backend for the `tried`-th attempt of one client connection. */
  private choose(tried: number): number {
    if (this.strategy === 'round-robin') return this.ports[this.next++ % this.ports.length]!;
    const byLoad = [...this.ports].sort((a, b) => (this.open.get(a) ?? 0) - (this.open.get(b) ?? 0));
    return byLoad[tried % byLoad.length]!;
  }
}
