/**
 * Security suite, handshake: what reaches a node before a WebSocket is open and authenticated. Foreign
 * origins, wrong paths, slow or oversized request headers, and connections that have not authenticated
 * yet are bounded: on the node, per client address (the TCP
 * peer, or the client a trusted proxy names in X-Forwarded-For), and in the size of frame they may
 * send. Every refusal is a coded HTTP status or close code, and a place is given back once a
 * connection authenticates or goes.
 */
import { connect, type Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import WebSocket from 'ws';
import { metricLines } from '../helpers/metrics.js';
import { TestClient } from '../helpers/test-client.js';
import { PUBLISH_ONLY, startBackedNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const cleanups = cleanupAfterEach();

async function node(env: Record<string, string>, log?: Logger): Promise<TestNode> {
  const t = await startBackedNode({ WS_AUTH_TIMEOUT_MS: '30000', ...env }, log);
  cleanups.push(() => t.stop());
  return t;
}

/** A connection that never authenticates (until closed by the test). */
async function pending(t: TestNode, headers: Record<string, string> = {}): Promise<TestClient> {
  const client = await TestClient.connect(t.wsUrl, { headers });
  cleanups.push(() => client.close());
  return client;
}

async function refusedWith(t: TestNode, headers: Record<string, string> = {}): Promise<string> {
  return TestClient.connect(t.wsUrl, { headers }).then(
    (c) => {
      c.close();
      return 'opened';
    },
    (err: Error) => err.message,
  );
}

const refusals = (t: TestNode): Promise<string> => metricLines(t.url, 'herald_upgrades_refused_total');

describe('unauthenticated connections', () => {
  it('when one address holds as many unauthenticated connections as allowed, then its next upgrade gets 429; one authenticating frees a place', async () => {
    const t = await node({ WS_MAX_UNAUTHENTICATED_PER_IP: '3' });
    const held = [await pending(t), await pending(t), await pending(t)];
    expect(await refusedWith(t)).toBe('HTTP 429');
    held[0]!.send({ type: 'auth', token: await mintToken('a1') });
    await held[0]!.next('welcome'); // its place was given back before the welcome was sent
    await pending(t);
    expect(await refusedWith(t)).toBe('HTTP 429');
    // Authenticated connections do not count: with one place free, any number of them come in.
    held[1]!.send({ type: 'auth', token: await mintToken('a2') });
    await held[1]!.next('welcome');
    for (let i = 0; i < 5; i++) {
      const c = await TestClient.open(t.wsUrl, await mintToken(`a-ok-${i}`));
      cleanups.push(() => c.close());
    }
    expect(await refusals(t)).toContain('herald_upgrades_refused_total{reason="unauthenticated_ip"} 2');
  });

  it('when the node holds as many unauthenticated connections as allowed, then further upgrades get 503 until one closes', async () => {
    const t = await node({ WS_MAX_UNAUTHENTICATED: '2' }); // no per-address limit (the default)
    const first = await pending(t);
    await pending(t);
    expect(await refusedWith(t)).toBe('HTTP 503');
    first.close();
    await waitFor(async () => (await refusedWith(t)) === 'opened', 'a place to free up', 5_000, 50);
    expect(await refusals(t)).toMatch(/herald_upgrades_refused_total\{reason="unauthenticated"\} [1-9]/);
  });

  it('when the peer is a trusted proxy, then the client it names in X-Forwarded-For is counted; from an untrusted peer the header is ignored', async () => {
    const trusting = await node({ WS_MAX_UNAUTHENTICATED_PER_IP: '1', TRUSTED_PROXIES: '127.0.0.1' });
    await pending(trusting, { 'x-forwarded-for': '203.0.113.7' });
    await pending(trusting, { 'x-forwarded-for': '198.51.100.9' });
    // The client cannot dodge the limit by prepending addresses: the proxy appended the real one.
    expect(await refusedWith(trusting, { 'x-forwarded-for': '192.0.2.1, 203.0.113.7' })).toBe('HTTP 429');

    const untrusting = await node({ WS_MAX_UNAUTHENTICATED_PER_IP: '1' });
    await pending(untrusting, { 'x-forwarded-for': '203.0.113.7' });
    expect(await refusedWith(untrusting, { 'x-forwarded-for': '198.51.100.9' })).toBe('HTTP 429');
  });

  it('when a connection sends a frame larger than an auth frame needs before its auth frame, then it is closed 1009 without parsing it; after auth (pipelined or not) larger frames are read', async () => {
    const t = await node({ WS_MAX_AUTH_FRAME_BYTES: '1024' });
    const ws = new WebSocket(t.wsUrl);
    cleanups.push(() => ws.terminate());
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(JSON.stringify({ type: 'auth', token: 'x'.repeat(2_000) }));
    expect(await closed).toBe(1009);
    // A frame pipelined right after `auth` (a resume of many channels) may be as large as any.
    const piped = await TestClient.connect(t.wsUrl);
    cleanups.push(() => piped.close());
    piped.send({ type: 'auth', token: await mintToken('piped') });
    piped.send(`{"type":"ping","ref":"after-auth"}${' '.repeat(2_000)}`);
    expect(await piped.next('pong')).toMatchObject({ ref: 'after-auth' });
    // After authentication, frames up to WS_MAX_FRAME_BYTES are read as before.
    const c = await TestClient.open(t.wsUrl, await mintToken('big-ok'));
    cleanups.push(() => c.close());
    c.send(`{"type":"ping","ref":"p1"}${' '.repeat(2_000)}`); // 2 KB of valid JSON
    expect(await c.next('pong')).toMatchObject({ ref: 'p1' });
  });
});

describe('upgrade guards', () => {
  const shop = { ALLOWED_ORIGINS: 'https://shop.example.com' };

  it('when the Origin is not allowed, then the upgrade is refused with 403', async () => {
    const t = await node(shop);
    await expect(
      TestClient.connect(t.wsUrl, {
        token: await mintToken('o1'),
        headers: { origin: 'https://evil.example' },
      }),
    ).rejects.toThrow('HTTP 403');
  });

  it('when 50 upgrades come from a foreign Origin, then each is refused and counted, and the log gets one line, its text cut short', async () => {
    const lines: string[] = [];
    const t = await node(shop, pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }));
    {
      const origin = `https://evil.example/${'x'.repeat(5_000)}`;
      for (let i = 0; i < 50; i++)
        await expect(TestClient.connect(t.wsUrl, { headers: { origin } })).rejects.toThrow('HTTP 403');
      const about = lines.filter((l) => l.includes('origin not allowed'));
      expect(about).toHaveLength(1);
      expect(about[0]!.length).toBeLessThan(600);
      expect(await refusals(t)).toContain('herald_upgrades_refused_total{reason="origin"} 50');
    }
  });

  it('when the Origin is allowed, then the connection opens', async () => {
    const t = await node(shop);
    const client = await TestClient.connect(t.wsUrl, {
      token: await mintToken('o2'),
      headers: { origin: 'https://shop.example.com' },
    });
    await client.next('welcome');
    client.close();
  });

  it('when the path is not /ws, then the upgrade is refused with 404', async () => {
    const t = await node({});
    await expect(TestClient.connect(t.wsUrl.replace('/ws', '/nope'))).rejects.toThrow('HTTP 404');
  });

  it('when the gateway stops accepting, then upgrades get 503 and open connections keep working', async () => {
    const n = await startBackedNode();
    try {
      const client = await TestClient.open(n.wsUrl, await mintToken('s1'));
      n.node.gateway.stopAccepting();
      await expect(TestClient.connect(n.wsUrl, { token: await mintToken('s2') })).rejects.toThrow('HTTP 503');
      client.send({ type: 'ping', ref: 'still-here' });
      expect(await client.next('pong')).toMatchObject({ ref: 'still-here' });
      const ready = await fetch(`${n.url}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await n.stop();
    }
  });

  it('when the node stops, then clients are closed with 1001 and readiness fails during shutdown', async () => {
    const n = await startBackedNode();
    const client = await TestClient.open(n.wsUrl, await mintToken('s3'));
    const stopping = n.node.stop();
    expect(n.node.notReadyReasons()).toContain('shutting down');
    expect(await client.waitClose()).toBe(1001);
    await stopping;
    await n.stop(); // removes its keys and exchange
  });
});

/** Opens a TCP connection to `t`, writes `request`, and resolves with what the node answers before closing. */
function rawHttp(t: TestNode, request: string | ((socket: Socket) => void)): Promise<string> {
  const { hostname, port } = new URL(t.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    cleanups.push(() => void socket.destroy());
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.on('connect', () => (typeof request === 'string' ? socket.write(request) : request(socket)));
  });
}

describe('slow and oversized request headers', () => {
  it('when an upgrade trickles its headers and never finishes them (slowloris), then 408 and the socket is closed within HTTP_HEADERS_TIMEOUT_MS', async () => {
    const t = await node({ HTTP_HEADERS_TIMEOUT_MS: '1000' });
    const started = Date.now();
    const answer = await rawHttp(t, (socket) => {
      socket.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
      const drip = setInterval(() => socket.writable && socket.write(`X-Drip-${Date.now()}: 1\r\n`), 200);
      socket.once('close', () => clearInterval(drip));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('when a REST request sends its body too slowly, then 408 and the socket is closed within HTTP_REQUEST_TIMEOUT_MS', async () => {
    const t = await node({ HTTP_REQUEST_TIMEOUT_MS: '1500' });
    const answer = await rawHttp(t, (socket) => {
      socket.write(
        `POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: ${PUBLISH_ONLY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
      );
      const drip = setInterval(() => socket.writable && socket.write(' '), 200);
      socket.once('close', () => clearInterval(drip));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('when an upgrade carries thousands of headers, then 431 and nothing opens', async () => {
    const t = await node({});
    const headers = Array.from({ length: 3_000 }, (_, i) => `X-H${i}: v`).join('\r\n');
    const answer = await rawHttp(
      t,
      `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${headers}\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(t.node.gateway.connectionCount).toBe(0);
  });

  it('when a connection never authenticates, then auth_required and close 4002 after WS_AUTH_TIMEOUT_MS, and its place is given back', async () => {
    const t = await node({ WS_AUTH_TIMEOUT_MS: '300', WS_MAX_UNAUTHENTICATED: '1' });
    const silent = await pending(t);
    expect(await refusedWith(t)).toBe('HTTP 503');
    expect(await silent.next('error')).toMatchObject({ code: 'auth_required' });
    expect(await silent.waitClose()).toBe(4002);
    await waitFor(async () => (await refusedWith(t)) === 'opened', 'the place to be given back');
  });
});
