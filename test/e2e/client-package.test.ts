/**
 * The SDK as an npm package (issue 13, item 3): the script behind `npm run pack:client` builds and packs
 * it, the tarball is installed into a scratch folder (offline: the package has no dependencies, and `ws`
 * is linked from this repository's node_modules), and a plain Node ESM script there uses it against a
 * real node on Redis and RabbitMQ, connecting through the node's director and receiving a published order
 * event and a promotion through typed per-event listeners, then using the inbox calls. A TypeScript consumer in the same folder is
 * compiled against the installed declarations, as a Node project and as a browser project.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLISH_ONLY, startBackedNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const tsc = path.join(root, 'node_modules/.bin/tsc');

let scratch: string;
let app: string;
let tarball: string;
let node: TestNode;

/** The Node script a user would write: argv is the fallback url, the director, the token and the user. */
const LISTEN_SCRIPT = `
import WebSocket from 'ws';
import { HeraldClient, ORDER_STATUSES } from '@herald/client';
import * as bundle from '@herald/client/browser';

const [url, director, token, userId] = process.argv.slice(2);
const out = (line) => process.stdout.write(JSON.stringify(line) + '\\n');
out({ bundle: typeof bundle.HeraldClient, statuses: ORDER_STATUSES.length });

const client = new HeraldClient({ url, director, token, WebSocket });
const got = new Set();
const done = async (kind) => {
  got.add(kind);
  if (got.size < 2) return;
  // The inbox: unread, marked read, and read back from history.
  const channel = 'user:' + userId;
  const unread = client.unread(channel);
  const read = await client.ack(channel);
  const history = await client.history(channel, { limit: 10 });
  const events = history.messages.map((m) => m.event);
  out({ inbox: { unread, read: read.offset, unreadAfter: client.unread(channel), events } });
  out({ stats: client.stats, node: client.node });
  client.close();
};
const fail = (err) => out({ error: err.code ?? 'exception', message: err.message });
client.on('error', fail);
let ready = 0;
for (const channel of ['user:' + userId, 'promotions'])
  client.subscribe(channel).once('recovery', () => ++ready === 2 && out({ ready: true }));
client.onEvent('order.status', (order, message) => {
  out({ event: message.event, channel: message.channel, offset: message.offset, order });
  done('order').catch(fail);
});
client.subscription('promotions').onEvent('promotion', (promotion) => {
  out({ event: 'promotion', title: promotion.title, url: promotion.url });
  done('promotion').catch(fail);
});
client.connect();
`;

/** A TypeScript user of the package: compiles only if the declarations type the listeners. */
const CONSUMER_TS = `
import {
  HeraldClient,
  type HistoryResult,
  type OrderStatus,
  type Position,
  type ReadEvent,
  type WebSocketConstructor,
} from '@herald/client';

declare module '@herald/client' {
  interface HeraldEvents {
    'cart.updated': { items: number };
  }
}
declare const WebSocket: WebSocketConstructor;

const client = new HeraldClient({ url: 'wss://x.test/ws', director: 'https://x.test/v1/connect', token: 't', WebSocket });
client.onEvent('order.status', (order, message) => {
  const status: OrderStatus = order.status;
  const where: string = message.channel + order.orderId + order.occurredAt;
  // @ts-expect-error an order event has no title
  void order.title;
  void status, where;
});
client.subscribe('promotions').onEvent('promotion', (promotion) => {
  const title: string = promotion.title;
  // @ts-expect-error url is optional
  const url: string = promotion.url;
  void title, url;
});
client.onEvent('cart.updated', (cart) => {
  const items: number = cart.items;
  void items;
});
client.on('read', (event: ReadEvent) => {
  const unread: number = event.unread;
  void unread;
});
export async function inbox(): Promise<number | undefined> {
  const history: HistoryResult = await client.history('user:42', { since: 0, limit: 10 });
  const read: Position = await client.ack('user:42', history.offset);
  return read.offset + (client.unread('user:42') ?? 0);
}
client.onEvent('not.declared', (data) => {
  // @ts-expect-error the data of an undeclared event is unknown
  void data.anything;
});
`;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'herald-package-'));
  const { stdout } = await run(
    process.execPath,
    ['scripts/build-client-package.mjs', '--out', path.join(scratch, 'package'), '--pack', scratch],
    { cwd: root },
  );
  tarball = stdout.trim().split('\n').at(-1)!;
  app = path.join(scratch, 'app');
  mkdirSync(app);
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'app', private: true, type: 'module' }),
  );
  await run(
    'npm',
    ['install', '--offline', '--no-audit', '--no-fund', tarball, path.join(root, 'node_modules/ws')],
    { cwd: app },
  );
  node = await startBackedNode();
}, 180_000);
afterAll(async () => {
  await node?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the packed client SDK', () => {
  it('when packed, then the tarball holds compiled modules, declarations and the browser bundle only', async () => {
    expect(path.basename(tarball)).toBe('herald-client-0.1.0.tgz');
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.trim().split('\n');
    for (const file of [
      'package/package.json',
      'package/README.md',
      'package/LICENSE',
      'package/lib/client/index.js',
      'package/lib/client/index.d.ts',
      'package/lib/client/herald-client.js',
      'package/lib/protocol/frames.js',
      'package/lib/protocol/events.d.ts',
      'package/browser/herald-client.js',
      'package/browser/herald-client.js.map',
    ])
      expect(files).toContain(file);
    const sources = files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
    expect(sources).toEqual([]);
    expect(files.filter((f) => !/^package\/(lib\/(client|protocol)|browser)\//.test(f))).toEqual([
      'package/LICENSE',
      'package/package.json',
      'package/README.md',
    ]);
    const manifest = JSON.parse(
      readFileSync(path.join(app, 'node_modules/@herald/client/package.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(manifest).toMatchObject({ name: '@herald/client', type: 'module', license: 'MIT' });
    expect(manifest.dependencies).toBeUndefined();
  });

  it('when used from a Node script, then typed listeners get an order event and a promotion, and the inbox calls answer', async () => {
    const userId = `pkg-${randomBytes(4).toString('hex')}`;
    writeFileSync(path.join(app, 'listen.mjs'), LISTEN_SCRIPT);
    const deadUrl = 'ws://127.0.0.1:9/ws'; // the fallback: only the director's answer reaches the node
    const child = spawn(
      process.execPath,
      ['listen.mjs', deadUrl, `${node.url}/v1/connect`, await mintToken(userId), userId],
      { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: Array<Record<string, unknown>> = [];
    let stderr = '';
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      for (const part of parts) lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await waitFor(() => lines.some((l) => l.ready), `the script's subscriptions (${stderr})`, 15_000);
      const post = (route: string, body: object) =>
        fetch(`${node.url}${route}`, {
          method: 'POST',
          headers: { authorization: PUBLISH_ONLY, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const order = await post('/v1/orders/pkg-o-1/events', {
        userId,
        status: 'shipped',
        details: { carrier: 'DHL' },
      });
      expect(order.status).toBe(202);
      const promotion = await post('/v1/promotions', {
        promotionId: 'pkg-p-1',
        title: 'Spring sale',
        body: '-20%',
        url: 'https://shop.example/sale',
      });
      expect(promotion.status).toBe(202);
      expect(await exited).toBe(0);
    } finally {
      child.kill();
    }
    expect(stderr).toBe('');
    expect(lines[0]).toEqual({ bundle: 'function', statuses: 12 });
    expect(lines.filter((l) => l.error)).toEqual([]);
    expect(lines.find((l) => l.event === 'order.status')).toMatchObject({
      channel: `user:${userId}`,
      offset: 1,
      order: { orderId: 'pkg-o-1', userId, status: 'shipped', details: { carrier: 'DHL' } },
    });
    expect(lines.find((l) => l.event === 'promotion')).toEqual({
      event: 'promotion',
      title: 'Spring sale',
      url: 'https://shop.example/sale',
    });
    expect(lines.find((l) => l.inbox)).toEqual({
      inbox: { unread: 1, read: 1, unreadAfter: 0, events: ['order.status'] },
    });
    expect(lines.at(-1)).toMatchObject({
      stats: { connects: 1, directorAnswers: 1, directorFailures: 0 },
      node: node.config.nodeId,
    });
  }, 30_000);

  it('when compiled by TypeScript, then the installed declarations type the listeners, for Node and browsers', async () => {
    writeFileSync(path.join(app, 'consumer.ts'), CONSUMER_TS);
    const common = { strict: true, noEmit: true, skipLibCheck: false, target: 'es2022' };
    const configs = {
      'tsconfig.node.json': {
        ...common,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        lib: ['es2023'],
        types: ['node'],
        typeRoots: [path.join(root, 'node_modules/@types')],
      },
      'tsconfig.browser.json': {
        ...common,
        module: 'esnext',
        moduleResolution: 'bundler',
        lib: ['es2022', 'dom'],
        types: [],
      },
    };
    for (const [file, compilerOptions] of Object.entries(configs)) {
      writeFileSync(path.join(app, file), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
      const result = await run(tsc, ['-p', file], { cwd: app }).catch((err: { stdout: string }) => err);
      expect(result.stdout, file).toBe('');
    }
  }, 120_000);
});
