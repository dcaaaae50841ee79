/**
 * Socket.IO under test: two processes of socketio/server.ts sharing a unique adapter key prefix on the
 * machine's Redis; publishing through @socket.io/redis-emitter from the orchestrator. A publish counts
 * as accepted once Redis answered the emitter's PUBLISH.
 */
import { randomBytes } from 'node:crypto';
import { Emitter } from '@socket.io/redis-emitter';
import { Redis } from 'ioredis';
import { onCleanup } from '../cleanup.js';
import { HttpClient } from '../http-client.js';
import { REDIS_URL } from './herald.js';
import type { System } from './system.js';
import { killAndWait, startServer, type ServerProcess } from './server-process.js';

const SERVER = 'test/bench/socketio/server.ts';

/** The Redis client handed to the emitter: the emitter drops publish()'s promise, this keeps the last one. */
class TrackedPublisher {
  last: Promise<number> = Promise.resolve(0);
  constructor(private readonly redis: Redis) {}
  publish(channel: string, message: Buffer | string): Promise<number> {
    this.last = this.redis.publish(channel, message);
    return this.last;
  }
}

export class SocketIoSystem implements System {
  readonly name = 'socketio';
  readonly label = 'Socket.IO';
  readonly broadcastBatch = undefined;
  private readonly http = new HttpClient();
  private readonly publisher: TrackedPublisher;
  private readonly emitter: Emitter;

  private constructor(
    private readonly servers: ServerProcess[],
    private readonly redis: Redis,
    readonly key: string,
    private readonly cleanUp: () => Promise<void>,
  ) {
    this.publisher = new TrackedPublisher(redis);
    this.emitter = new Emitter(this.publisher, { key });
  }

  static async start(nodes: number): Promise<SocketIoSystem> {
    const key = `sio-bench-${randomBytes(4).toString('hex')}`;
    const redis = new Redis(REDIS_URL);
    const cleanUp = onCleanup(`socket.io ${key}`, () => deleteAdapterState(redis, key));
    const servers = await Promise.all(
      Array.from({ length: nodes }, (_, i) =>
        startServer(
          `socket.io node ${i + 1}`,
          ['--import', 'tsx', SERVER],
          { REDIS_URL, SIO_KEY: key, PORT: '0' },
          (line) =>
            line.startsWith('{"listening":')
              ? (JSON.parse(line) as { listening: number }).listening
              : undefined,
        ),
      ),
    );
    return new SocketIoSystem(servers, redis, key, cleanUp);
  }

  get wsUrls(): string[] {
    return this.servers.map((s) => `ws://127.0.0.1:${s.port}`);
  }

  get pids(): number[] {
    return this.servers.map((s) => s.pid);
  }

  async broadcast(data: object): Promise<void> {
    this.emitter.to('promotions').emit('promotion', data);
    await this.publisher.last;
  }

  async toUser(user: string, data: object): Promise<void> {
    this.emitter.to(`user:${user}`).emit('probe', data);
    await this.publisher.last;
  }

  async warmUp(inFlight: number): Promise<void> {
    // A room nobody is in: the Redis connection is up and both nodes decode a message.
    await Promise.all(
      Array.from({ length: inFlight }, (_, i) => {
        this.emitter.to('bench-warmup').emit('warmup', { i });
        return this.publisher.last;
      }),
    );
  }

  async lagMaxMs(i: number): Promise<number> {
    const res = await this.http.send('GET', `http://127.0.0.1:${this.servers[i]!.port}/lag`);
    return (JSON.parse(res.text) as { maxMs: number }).maxMs;
  }

  kill(i: number): void {
    this.servers[i]!.child.kill('SIGKILL');
  }

  async stopGracefully(): Promise<void> {
    await Promise.all(this.servers.map((s) => killAndWait(s, 'SIGTERM')));
  }

  async stop(): Promise<void> {
    this.http.close();
    await Promise.all(this.servers.map((s) => killAndWait(s)));
    await this.cleanUp();
  }
}

/**
 * The adapter writes no keys, only pub/sub channels under `key` that vanish with their subscribers;
 * checks that none is left (and deletes any key under the prefix, should a later adapter write one).
 */
async function deleteAdapterState(redis: Redis, key: string): Promise<void> {
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${key}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
    const channels = (await redis.pubsub('CHANNELS', `${key}*`)) as string[];
    if (channels.length > 0)
      console.warn(`socket.io ${key}: pub/sub channels still subscribed: ${channels.join(', ')}`);
  } finally {
    await redis.quit();
  }
}
