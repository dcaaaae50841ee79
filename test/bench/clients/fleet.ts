/**
 * The load generator's clients: connects them with a bounded number of handshakes in flight, follows
 * Herald `reconnect` frames (make-before-break, `resume` on the new connection), reconnects clients whose
 * connection was closed, and tracks the reconnect storm. Counts every move and close.
 */
import type { Counters } from '../generator-protocol.js';
import type { BenchClient, FleetHooks, Link, Protocol } from './client.js';
import { Limiter } from './limiter.js';
import { now, type Tally } from './tally.js';

const ATTEMPTS = 8;
const SAMPLES = 10;

export class Fleet implements FleetHooks {
  readonly counters: Counters = {
    moved: 0,
    closed: 0,
    closeCodes: {},
    handshakeFailures: 0,
    resumeFallbacks: 0,
    duplicates: 0,
    outOfOrder: 0,
    errors: 0,
    errorSamples: [],
    ready: 0,
  };
  readonly protocol: Protocol;
  private readonly limiter: Limiter;
  private liveUrls: string[] = [];
  private storm:
    { pending: number; done: (at: number, clients: number) => void; clients: number } | undefined;
  /** A client could not get a connection back at all: the run is void. */
  onFatal: (message: string) => void = () => undefined;

  constructor(
    readonly clients: BenchClient[],
    readonly tally: Tally,
    protocol: (hooks: FleetHooks) => Protocol,
    handshakes: number,
  ) {
    this.protocol = protocol(this);
    this.limiter = new Limiter(handshakes);
  }

  /** Connects every client, round-robin over `urls`; resolves with the time it took (ms). */
  async connectAll(urls: string[]): Promise<number> {
    this.liveUrls = urls;
    const started = now();
    await Promise.all(
      this.clients.map(async (client) => {
        client.link = await this.establish(client, urls[client.index % urls.length]!, 'fresh');
      }),
    );
    return now() - started;
  }

  /** Marks the clients of `deadUrl` (about to be killed); `done` fires once all of them are back. */
  armStorm(deadUrl: string, liveUrls: string[], done: (at: number, clients: number) => void): number {
    this.liveUrls = liveUrls;
    let pending = 0;
    for (const client of this.clients)
      if (client.link?.url === deadUrl) {
        client.stormPending = true;
        pending++;
      }
    this.storm = { pending, done, clients: pending };
    return pending;
  }

  closeAll(): void {
    for (const client of this.clients) {
      const link = client.link;
      client.link = undefined;
      if (link && !link.closed) {
        link.closedByUs = true;
        link.ws.close(1000);
      }
    }
  }

  readyCount(): number {
    return this.clients.reduce((n, c) => n + (c.link && !c.link.closed ? 1 : 0), 0);
  }

  closed(client: BenchClient, link: Link, code: number): void {
    this.counters.closed++;
    this.counters.closeCodes[code] = (this.counters.closeCodes[code] ?? 0) + 1;
    if (client.link !== link) return;
    client.link = undefined;
    if (!client.moving) void this.recover(client, this.otherUrl(link.url));
  }

  moveRequested(client: BenchClient, link: Link, url: string | undefined): void {
    this.counters.moved++;
    const start = (): void => {
      if (link.closed || client.moving) return;
      // A reconnect frame can come before the client's own handshake finished: move once it has.
      if (client.link !== link) return void setTimeout(start, 50).unref();
      client.moving = true;
      this.establish(client, url ?? this.otherUrl(link.url), 'resume').then(
        (next) => {
          client.moving = false;
          const old = client.link;
          client.link = next;
          if (old && !old.closed) {
            old.closedByUs = true;
            old.ws.close(1000);
          }
          this.back(client);
        },
        (err: unknown) => {
          client.moving = false;
          this.error(`move failed: ${String(err)}`);
          if (!client.link) void this.recover(client, this.otherUrl(link.url));
        },
      );
    };
    start();
  }

  error(text: string): void {
    this.counters.errors++;
    if (this.counters.errorSamples.length < SAMPLES) this.counters.errorSamples.push(text.slice(0, 300));
  }

  private async recover(client: BenchClient, url: string): Promise<void> {
    try {
      client.link = await this.establish(client, url, 'resume');
      this.back(client);
    } catch (err) {
      this.onFatal(`client ${client.user} could not reconnect: ${String(err)}`);
    }
  }

  private back(client: BenchClient): void {
    if (!client.stormPending || !this.storm) return;
    client.stormPending = false;
    if (--this.storm.pending === 0) this.storm.done(now(), this.storm.clients);
  }

  /** One ready connection, retried with a short backoff (each failure counted). */
  private async establish(client: BenchClient, url: string, mode: 'fresh' | 'resume'): Promise<Link> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.limiter.run(() => this.protocol.handshake(client, url, mode));
      } catch (err) {
        this.counters.handshakeFailures++;
        this.error(`handshake to ${url} failed: ${String(err)}`);
        if (attempt >= ATTEMPTS) throw err;
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
        if (!this.liveUrls.includes(url)) url = this.otherUrl(url);
      }
    }
  }

  /** A live node other than `url` when there is one, else the only live one. */
  private otherUrl(url: string): string {
    return this.liveUrls.find((u) => u !== url) ?? this.liveUrls[0] ?? url;
  }
}
