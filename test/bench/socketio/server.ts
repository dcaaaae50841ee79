/**
 * The Socket.IO side of the benchmark: a minimal Socket.IO 4 node with @socket.io/redis-adapter (ioredis),
 * default options. Each socket joins `user:{user}` (from the handshake query) and `promotions` on
 * connection; no authentication. Publishing happens elsewhere, through @socket.io/redis-emitter.
 *
 * Environment: PORT (0 = any), REDIS_URL, SIO_KEY (the adapter's key prefix, unique per run).
 * Prints {"listening":port} once listening. GET /lag answers {"maxMs":…}, the maximum event-loop
 * delay since the previous call (perf_hooks, 10 ms resolution like Herald's prom-client metric).
 * Exits when its stdin closes (the orchestrator is gone).
 */
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const key = process.env.SIO_KEY ?? 'socket.io';

const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();

const http = createServer((req, res) => {
  if (req.url === '/lag') {
    const maxMs = lag.max / 1e6;
    lag.reset();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ maxMs }));
    return;
  }
  res.statusCode = 404;
  res.end();
});

const pubClient = new Redis(redisUrl);
const subClient = pubClient.duplicate();
for (const client of [pubClient, subClient])
  client.on('error', (err) => console.error(`redis: ${err.message}`));

const io = new Server(http, { adapter: createAdapter(pubClient, subClient, { key }) });
io.on('connection', (socket) => {
  void socket.join([`user:${String(socket.handshake.query.user)}`, 'promotions']);
});

http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = http.address();
  console.log(JSON.stringify({ listening: typeof address === 'object' && address ? address.port : 0 }));
});

process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => {
  void io.close(() => process.exit(0));
});
