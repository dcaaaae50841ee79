/**
 * Connections that have not authenticated yet are bounded: on the node, per client address (the TCP
 * peer, or the client a trusted proxy names in X-Forwarded-For), and in the size of frame they may
 * send. Every refusal is a coded HTTP status or close code, and a place is given back once a
 * connection authenticates or goes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TestClient } from '../helpers/test-client.js';
import { ADMIN, startTestNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function node(env: Record<string, string>): Promise<TestNode> {
  const t = await startTestNode({ WS_AUTH_TIMEOUT_MS: '30000', ...env });
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

async function refusals(t: TestNode): Promise<string> {
  const res = await fetch(`${t.url}/metrics`, { headers: { authorization: ADMIN } });
  return (await res.text())
    .split('\n')
    .filter((l) => l.startsWith('herald_upgrades_refused_total{'))
    .join('\n');
}

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
