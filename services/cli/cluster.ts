/**
 * Starts N local Herald nodes on consecutive ports against the local Redis and RabbitMQ, so scale-out
 * can be tried without Docker:
 *   npm run cluster -- [--nodes 3] [--port 8080]
 * Each node's log lines are prefixed with its id; Ctrl-C (SIGINT) or SIGTERM stops them all gracefully.
 * REDIS_URL (unless REDIS_SENTINELS or REDIS_CLUSTER_NODES is set) and AMQP_URL default to the local
 * servers; every other variable passes through unchanged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', short: 'n', default: '3' },
    port: { type: 'string', short: 'p', default: '8080' },
  },
});
const count = Number(values.nodes);
const basePort = Number(values.port);
if (!Number.isInteger(count) || count < 1 || count > 32) {
  console.error('cluster: --nodes must be 1-32');
  process.exit(2);
}
if (!Number.isInteger(basePort) || basePort < 1 || basePort + count > 65535) {
  console.error('cluster: --port must leave room for every node below 65536');
  process.exit(2);
}

const entry = new URL('../main.js', import.meta.url).pathname;
// The local Redis unless another Redis target is given (REDIS_SENTINELS or REDIS_CLUSTER_NODES
// exclude REDIS_URL).
const redisTarget = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'].some((name) => process.env[name])
  ? {}
  : { REDIS_URL: 'redis://127.0.0.1:6379' };
// INTERNAL_PORT, when exported, is where node 1's internal port goes; the others take the next ones.
const internalBase = process.env.INTERNAL_PORT ? Number(process.env.INTERNAL_PORT) : undefined;
const children: ChildProcess[] = [];
for (let i = 0; i < count; i++) {
  const id = `node-${i + 1}`;
  const port = basePort + i;
  const child = spawn(process.execPath, ['--enable-source-maps', entry], {
    env: {
      ...process.env,
      NODE_ID: id,
      PORT: String(port),
      ...(internalBase === undefined ? {} : { INTERNAL_PORT: String(internalBase + i) }),
      ...redisTarget,
      AMQP_URL: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => console.log(`[${id}] ${line}`));
  }
  child.on('exit', (code, signal) => console.log(`[${id}] exited ${signal ?? code}`));
  children.push(child);
  console.log(`[cluster] ${id}: http://127.0.0.1:${port}  ws://127.0.0.1:${port}/ws`);
}

let stopping = false;
const stopAll = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  for (const child of children) child.kill(signal);
};
process.on('SIGINT', () => stopAll('SIGTERM'));
process.on('SIGTERM', () => stopAll('SIGTERM'));
let alive = children.length;
for (const child of children) {
  child.on('exit', () => {
    alive--;
    if (alive === 0) process.exit(0);
  });
}
