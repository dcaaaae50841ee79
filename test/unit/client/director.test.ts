/**
 * The SDK's `director` option against a real HTTP server standing in for `GET /v1/connect`, with
 * scripted sockets: where each attempt goes, and the fallback to `url` whenever the director fails.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HeraldClient, type HeraldClientOptions, type HeraldError } from '../../../shared/client/index.js';
import { waitFor } from '../../helpers/wait.js';
import { fakeSockets, type FakeSocket } from './fake-socket.js';

const URL_FALLBACK = 'ws://balancer.test/ws';

let server: http.Server;
let director: string;
/** How the stand-in director answers the next requests. */
let answer: (req: IncomingMessage, res: ServerResponse) => void;
let requests: string[];
/** Responses held open by a director that does not answer, ended after each test. */
let held: ServerResponse[];

let fake: ReturnType<typeof fakeSockets>;
let client: HeraldClient | undefined;
let errors: HeraldError[];

function answerWith(url: string, node = 'node-x'): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ url, node, load: 0.1 }));
  };
}

function start(options: Partial<HeraldClientOptions> = {}): HeraldClient {
  client = new HeraldClient({
    url: URL_FALLBACK,
    director,
    token: 't',
    WebSocket: fake.WebSocket,
    minReconnectDelayMs: 10,
    maxReconnectDelayMs: 20,
    random: () => 0.5,
    ...options,
  });
  client.on('error', (e) => errors.push(e));
  client.connect();
  return client;
}

/** Waits for socket number `n` (1-based) to be opened, and returns it. */
async function socket(n: number): Promise<FakeSocket> {
  await waitFor(() => fake.sockets.length >= n, `socket ${n}`);
  expect(fake.sockets).toHaveLength(n);
  return fake.sockets[n - 1]!;
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  director = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/connect`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  fake = fakeSockets();
  requests = [];
  held = [];
  errors = [];
  answer = answerWith('ws://node-1.test/ws');
});
afterEach(() => {
  client?.close();
  client = undefined;
  for (const res of held) res.end();
});

describe('HeraldClient with a director', () => {
  it('when the director names a node, then the first attempt and every reconnect go where it says', async () => {
    start();
    const first = await socket(1);
    expect(first.url).toBe('ws://node-1.test/ws');
    expect(requests).toEqual(['GET /v1/connect']);
    first.welcome();
    answer = answerWith('ws://node-2.test/ws');
    first.serverClose(1006);
    const second = await socket(2);
    expect(second.url).toBe('ws://node-2.test/ws');
    second.welcome('session-2');
    expect(client!.state).toBe('connected');
    expect(client!.stats).toMatchObject({ directorAnswers: 2, directorFailures: 0 });
    expect(requests).toHaveLength(2);
    expect(errors).toEqual([]);
  });

  it('when the director answers an error, then the attempt goes to url and the error is reported', async () => {
    answer = (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ statusCode: 503, code: 'no_node_available', message: 'none' }));
    };
    start();
    const ws = await socket(1);
    expect(ws.url).toBe(URL_FALLBACK);
    ws.welcome();
    expect(client!.state).toBe('connected');
    expect(client!.stats).toMatchObject({ directorAnswers: 0, directorFailures: 1 });
    expect(errors.map((e) => [e.code, e.retryable])).toEqual([['director_unavailable', true]]);
    expect(errors[0]!.message).toContain('503');
  });

  it('when the director does not answer in time, then the attempt goes to url after directorTimeoutMs', async () => {
    answer = (_req, res) => held.push(res);
    const started = Date.now();
    start({ directorTimeoutMs: 150 });
    const ws = await socket(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(ws.url).toBe(URL_FALLBACK);
    expect(errors[0]?.message).toContain('within 150 ms');
  });

  it('when the director answers no ws(s) URL, then the attempt goes to url', async () => {
    for (const body of ['{"url":"http://node-1.test/ws"}', '{"node":"n"}', 'not json', 'null']) {
      answer = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      };
      const n = fake.sockets.length + 1;
      start();
      expect((await socket(n)).url).toBe(URL_FALLBACK);
      client!.close();
    }
    expect(errors.map((e) => e.code)).toEqual(Array(4).fill('director_unavailable'));
  });

  it('when the director is unreachable, then the attempt goes to url', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    start({ director: `http://127.0.0.1:${port}/v1/connect` });
    expect((await socket(1)).url).toBe(URL_FALLBACK);
    expect(errors[0]?.message).toContain('unreachable');
  });

  it('when a reconnect frame names a url, then the client goes there without asking the director', async () => {
    start();
    const first = await socket(1);
    first.welcome();
    first.receive({ type: 'reconnect', afterMs: 0, url: 'ws://chosen-by-node.test/ws' });
    const second = await socket(2);
    expect(second.url).toBe('ws://chosen-by-node.test/ws');
    expect(requests).toHaveLength(1);
  });

  it('when a reconnect frame names no url, then the client asks the director', async () => {
    start();
    const first = await socket(1);
    first.welcome();
    answer = answerWith('ws://node-3.test/ws');
    first.receive({ type: 'reconnect', afterMs: 0 });
    const second = await socket(2);
    expect(second.url).toBe('ws://node-3.test/ws');
    expect(requests).toHaveLength(2);
  });

  it('when a token function is given too, then the token and the director are both awaited', async () => {
    let tokens = 0;
    start({
      token: async () => {
        tokens += 1;
        await waitFor(() => requests.length === 1, 'the director asked before the token resolves');
        return 'fresh-token';
      },
    });
    const ws = await socket(1);
    ws.open();
    expect(ws.url).toBe('ws://node-1.test/ws');
    expect(ws.last('auth')).toMatchObject({ token: 'fresh-token' });
    expect(tokens).toBe(1);
  });

  it('when closed while the director is asked, then no socket is opened', async () => {
    let release: (() => void) | undefined;
    answer = (req, res) => {
      release = () => answerWith('ws://node-1.test/ws')(req, res);
    };
    start();
    await waitFor(() => release, 'the director request');
    client!.close();
    release!();
    // The client is closed: a later connect() asks again and is the only socket.
    answer = answerWith('ws://node-4.test/ws');
    client!.connect();
    expect((await socket(1)).url).toBe('ws://node-4.test/ws');
  });

  it('when the director option is not an http(s) URL, then the constructor throws a TypeError', () => {
    const options = { url: URL_FALLBACK, token: 't', WebSocket: fake.WebSocket };
    expect(() => new HeraldClient({ ...options, director: 'ws://x.test/v1/connect' })).toThrow(TypeError);
    expect(() => new HeraldClient({ ...options, director, directorTimeoutMs: 0 })).toThrow(TypeError);
  });

  it('when directorTimeoutMs is not below connectTimeoutMs, then the constructor throws a TypeError', () => {
    const options = { url: URL_FALLBACK, token: 't', WebSocket: fake.WebSocket, director };
    expect(() => new HeraldClient({ ...options, connectTimeoutMs: 500, directorTimeoutMs: 500 })).toThrow(
      /directorTimeoutMs must be below connectTimeoutMs/,
    );
  });

  it('when only a short connectTimeoutMs is given, then the director gets half of it and url is reached', async () => {
    answer = (_req, res) => held.push(res);
    start({ connectTimeoutMs: 400 });
    const ws = await socket(1);
    expect(client!.stats.reconnects).toBe(0); // the first attempt itself went on to url
    expect(errors[0]?.message).toContain('within 200 ms');
    expect(ws.url).toBe(URL_FALLBACK);
    ws.welcome();
    expect(client!.state).toBe('connected');
  });
});
