/**
 * A round-robin TCP load balancer for tests, in front of several node processes, so clients know
 * one URL as they would behind nginx or HAProxy. A backend that refuses the connection (a killed
 * node) is skipped for the next one, like a passive health check; when a backend dies, the client
 * connections it held are closed with it. Node's `net` only.
 */
import net, { type AddressInfo, type Server, type Socket } from 'node:net';

export class TcpBalancer {
  private next = 0;
  private readonly sockets = new Set<Socket>();
  /** How many client connections each backend port took. */
  readonly accepted = new Map<number, number>();

  private constructor(
    private readonly server: Server,
    private readonly ports: readonly number[],
  ) {
    server.on('connection', (client) => this.forward(client, 0));
  }

  /** Listens on an ephemeral port of 127.0.0.1 and spreads connections over `ports` of 127.0.0.1. */
  static async start(ports: readonly number[]): Promise<TcpBalancer> {
    const balancer = new TcpBalancer(net.createServer(), ports);
    await new Promise<void>((resolve, reject) => {
      balancer.server.once('error', reject);
      balancer.server.listen(0, '127.0.0.1', () => resolve());
    });
    return balancer;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
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
    const port = this.ports[this.next++ % this.ports.length]!;
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
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = (): void => {
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
}
