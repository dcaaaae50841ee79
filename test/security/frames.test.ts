/**
 * Security suite, frames: what a connected client may send over the WebSocket that is not a valid
 * protocol frame. Each attack gets its coded answer (an error frame that keeps the connection, or a
 * close code), and the node goes on serving everyone else. Real Redis and RabbitMQ behind the node.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FRAGMENTS } from '../../services/gateway/gateway.js';
import { metricLines } from '../helpers/metrics.js';
import { bystanderOn, type Bystander } from '../helpers/bystander.js';
import { TestClient } from '../helpers/test-client.js';
import { startBackedNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';

let t: TestNode;
let bystander: Bystander;

beforeAll(async () => {
  t = await startBackedNode({ WS_MAX_FRAME_BYTES: '1024' });
  bystander = await bystanderOn(t);
});
afterAll(async () => {
  bystander.client.close();
  await t.stop();
});

/** The server keeps serving everyone else: a fresh promotion still reaches the bystander. */
const expectOthersServed = (): Promise<void> => bystander.expectServed();

const closeReasons = (): Promise<string> => metricLines(t.url, 'herald_connection_closes_total');

describe('malformed frames', () => {
  it('when a frame is not JSON, then invalid_json and the connection stays', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('j1'));
    c.send('{not json');
    expect(await c.next('error')).toMatchObject({ code: 'invalid_json', retryable: false });
    c.send({ type: 'ping', ref: 1 });
    expect(await c.next('pong')).toMatchObject({ ref: 1 });
    c.close();
    await expectOthersServed();
  });

  it('when the frame type is unknown or fields are wrong, then unknown_type / bad_frame with the ref', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('j2'));
    c.send({ type: 'publish', ref: 'x' });
    expect(await c.next('error')).toMatchObject({ code: 'unknown_type', ref: 'x' });
    c.send({ type: 'subscribe', channel: 42, ref: 'y' });
    expect(await c.next('error')).toMatchObject({ code: 'bad_frame', ref: 'y' });
    c.send([1, 2, 3]);
    expect(await c.next('error')).toMatchObject({ code: 'bad_frame' });
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await c.next('error')).toMatchObject({ code: 'bad_frame' });
    c.close();
  });

  it('when a frame exceeds the maximum size, then the connection is closed 1009', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('big'));
    c.send({ type: 'ping', pad: 'x'.repeat(2048) });
    expect(await c.waitClose()).toBe(1009);
    await expectOthersServed();
  });

  it('when a text frame is not valid UTF-8, then the connection is closed 1007', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('utf8'));
    // ws sends a Buffer with binary: false as a text frame, bytes unchecked.
    c.ws.send(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), { binary: false });
    expect(await c.waitClose()).toBe(1007);
    expect(await closeReasons()).toMatch(/reason="invalid_utf8"\} [1-9]/);
    await expectOthersServed();
  });

  it('when a message comes in more fragments than allowed, then the connection is closed 1008', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('fragments'));
    for (let i = 0; i <= MAX_FRAGMENTS; i++) c.ws.send('{', { fin: false });
    expect(await c.waitClose()).toBe(1008);
    expect(await closeReasons()).toMatch(/reason="too_many_fragments"\} [1-9]/);
    await expectOthersServed();
  });

  it('when empty fragments flood in (no bytes, so no size limit would stop them), then the connection is closed 1008', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('tiny-fragments'));
    for (let i = 0; i < 10_000 && c.ws.readyState === WebSocket.OPEN; i++) c.ws.send('', { fin: false });
    expect(await c.waitClose()).toBe(1008);
    await expectOthersServed();
  });

  it('when a message is fragmented within the limits, then it is read as one frame', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('fragmented-ok'));
    const text = JSON.stringify({ type: 'ping', ref: 'in-pieces' });
    for (let i = 0; i < text.length; i++) c.ws.send(text[i]!, { fin: i === text.length - 1 });
    expect(await c.next('pong')).toMatchObject({ ref: 'in-pieces' });
    c.close();
  });

  it('when frames carry __proto__ or constructor keys, then they are answered like any frame and nothing is polluted', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('proto'));
    c.send('{"type":"ping","ref":"p1","__proto__":{"polluted":true}}');
    expect(await c.next('pong')).toMatchObject({ ref: 'p1' });
    c.send(
      '{"type":"subscribe","channel":"promotions","ref":"p2","constructor":{"prototype":{"polluted":true}}}',
    );
    expect(await c.next('subscribed')).toMatchObject({ channel: 'promotions', ref: 'p2' });
    c.send('{"__proto__":{"type":"ping"},"ref":"p3"}');
    expect(await c.next('error')).toMatchObject({ code: 'bad_frame' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).type).toBeUndefined();
    c.close();
    await expectOthersServed();
  });
});
