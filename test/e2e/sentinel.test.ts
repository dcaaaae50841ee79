/**
 * Redis behind Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_NAME) with a private primary, replica and
 * sentinel started here (never the machine's Redis): a Herald node process finds the primary through
 * the sentinel; a publish is answered 202 only once the replica holds it (REDIS_MIN_REPLICAS, Redis
 * WAIT); after the primary is SIGKILLed and the sentinel promotes the replica, the node follows the new
 * primary by itself, and the client gets every message that was answered 202, once, in order.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { freePort, privateDir } from '../helpers/nginx.js';
import { startCluster, type NodeProcess } from '../helpers/node-process.js';
import { postPublish } from '../helpers/rest-http.js';
import { TestClient } from '../helpers/test-client.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const cleanups = cleanupAfterEach();

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
  // As a careful backend retries: a 503 may have stored the message, and the key stores it once.
  const res = await postPublish(node, 'user:s-user', data, { idempotencyKey: `s-user-${data}` });
  return res.status;
}

describe('Redis behind Sentinel', () => {
  it('when the replica lags, then a publish is refused rather than answered unreplicated; when the primary is SIGKILLed right after a 202, then the sentinel promotes the replica, the node follows it, and nothing answered 202 is lost', async () => {
    ensureRedisServer();
    const dir = privateDir('herald-sentinel-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const [primaryPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()];
    const base = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    base.push('--repl-diskless-sync-delay', '0'); // the first full sync at once, not after 5 s
    const primary = redisProcess(['--port', String(primaryPort), ...base]);
    const replica = redisProcess([
      '--port',
      String(replicaPort),
      '--replicaof',
      '127.0.0.1',
      String(primaryPort),
      ...base,
    ]);
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

    const replicaClient = client(replicaPort);
    await waitFor(
      async () => /master_link_status:up/.test(await replicaClient.info('replication').catch(() => '')),
      'the replica to finish its first sync',
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

    // REDIS_MIN_REPLICAS defaults to 1 behind Sentinel: with the replica frozen, WAIT times out and
    // the publish is refused (503, retryable). What the primary stored meanwhile reaches the client
    // with the next message (gap repair), as after any refused publish.
    replica.kill('SIGSTOP');
    expect(await post(node, 2)).toBe(503);
    replica.kill('SIGCONT');
    expect(await post(node, 3)).toBe(202);
    await tab.waitForMessages(3, 'user:s-user');

    // A 202 means the replica holds it: SIGKILL the primary right after one, without waiting.
    expect(await post(node, 4)).toBe(202);
    primary.kill('SIGKILL');

    // Publishing fails (503) until the sentinel promoted the replica and the node reconnected to it.
    await waitFor(
      async () => {
        const status = await post(node, 5);
        expect([202, 503]).toContain(status);
        return status === 202;
      },
      'a publish to succeed on the promoted replica',
      30_000,
      250,
    );
    expect(await post(node, 6)).toBe(202);
    const got = await tab.waitForMessages(6, 'user:s-user', 10_000);
    expect(got.map((m) => m.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(got.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5, 6]);
  }, 90_000);
});
