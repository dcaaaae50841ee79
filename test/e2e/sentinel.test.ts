/**
 * Redis behind Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_NAME) with a private primary, replica and
 * sentinel started here (never the machine's Redis): a Herald node process finds the primary through
 * the sentinel, and after the primary is SIGKILLed and the sentinel promotes the replica, it follows
 * the new primary by itself; the client gets every message that was answered 202, once, in order.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, privateDir } from '../helpers/nginx.js';
import { startCluster, type NodeProcess } from '../helpers/node-process.js';
import { TestClient } from '../helpers/test-client.js';
import { PUBLISH_ONLY } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

function ensureRedisServer(): void {
  if (spawnSync('sh', ['-c', 'command -v redis-server']).status === 0) return;
  const install = spawnSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq redis-server'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: 'inherit',
  });
  if (install.status !== 0) throw new Error('these tests need redis-server: apt-get install redis-server');
}

function redisProcess(args: string[]): ChildProcess {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  });
  return child;
}

function client(port: number): Redis {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  cleanups.push(() => redis.disconnect());
  return redis;
}

async function post(node: NodeProcess, data: number): Promise<number> {
  const res = await fetch(`${node.url}/v1/publish`, {
    method: 'POST',
    headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'user:s-user', event: 'tick', data }),
  });
  return res.status;
}

describe('Redis behind Sentinel', () => {
  it('when the primary is SIGKILLed, then the sentinel promotes the replica, the node follows it, and every message answered 202 arrives once, in order', async () => {
    ensureRedisServer();
    const dir = privateDir('herald-sentinel-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const [primaryPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()];
    const base = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    const primary = redisProcess(['--port', String(primaryPort), ...base]);
    redisProcess(['--port', String(replicaPort), '--replicaof', '127.0.0.1', String(primaryPort), ...base]);
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor herald 127.0.0.1 ${primaryPort} 1`,
        'sentinel down-after-milliseconds herald 1000',
        'sentinel failover-timeout herald 5000',
        '',
      ].join('\n'),
    );
    redisProcess([conf, '--sentinel']);
    const sentinel = client(sentinelPort);
    // The sentinel learns the replica from the primary's INFO (every 10 s at most).
    await waitFor(
      async () =>
        ((await sentinel.call('SENTINEL', 'REPLICAS', 'herald').catch(() => [])) as unknown[]).length > 0,
      'the sentinel to know the replica',
      30_000,
      200,
    );

    const cluster = await startCluster(1, {
      REDIS_URL: '',
      REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
      REDIS_SENTINEL_NAME: 'herald',
    });
    cleanups.push(() => cluster.stop());
    const [node] = cluster.nodes as [NodeProcess];
    const tab = await TestClient.open(node.wsUrl, await mintToken('s-user'));
    cleanups.push(() => tab.close());
    expect(await tab.subscribe('user:s-user')).toMatchObject({ type: 'subscribed' });
    expect(await post(node, 1)).toBe(202);
    await tab.waitForMessages(1, 'user:s-user');

    // The replica holds what was answered (asynchronous replication: wait until it caught up).
    const replica = client(replicaPort);
    const primaryClient = client(primaryPort);
    await waitFor(
      async () => {
        const offset = /master_repl_offset:(\d+)/.exec(await primaryClient.info('replication'))?.[1];
        const got = /master_repl_offset:(\d+)/.exec(await replica.info('replication'))?.[1];
        return offset !== undefined && offset === got;
      },
      'the replica to catch up',
      10_000,
    );
    primary.kill('SIGKILL');

    // Publishing fails (503) until the sentinel promoted the replica and the node reconnected to it.
    const answered: number[] = [1];
    await waitFor(
      async () => {
        const status = await post(node, 2);
        if (status === 202) answered.push(2);
        else expect(status).toBe(503);
        return status === 202;
      },
      'a publish to succeed on the promoted replica',
      30_000,
      250,
    );
    for (const data of [3, 4]) {
      expect(await post(node, data)).toBe(202);
      answered.push(data);
    }
    const got = await tab.waitForMessages(answered.length, 'user:s-user', 10_000);
    expect(got.map((m) => m.data)).toEqual(answered);
    expect(got.map((m) => m.offset)).toEqual([1, 2, 3, 4]);
  }, 90_000);
});
