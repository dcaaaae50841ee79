import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryDrivers } from '../../services/node/drivers.js';
import { StateUnavailableError } from '../../shared/state/state-unavailable-error.js';
import { TestClient } from '../helpers/test-client.js';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode();
});
afterAll(() => t.stop());

describe('frame ordering and failures', () => {
  it('when a malformed frame follows a subscribe, then its error comes after the subscribed reply', async () => {
    const c = await TestClient.open(t.wsUrl, await mintToken('order-1'));
    c.send({ type: 'subscribe', channel: 'user:order-1', ref: 1 });
    c.send('{oops');
    c.send({ type: 'ping', ref: 2 });
    await c.next('pong');
    expect(c.frames.slice(1).map((f) => f.type)).toEqual(['subscribed', 'error', 'pong']);
    expect(c.frames[2]).toMatchObject({ code: 'invalid_json' });
    c.close();
  });

  it('when a malformed frame comes before authentication, then its error is sent and the connection closes 4001', async () => {
    const c = await TestClient.connect(t.wsUrl);
    c.send({ type: 'teleport', ref: 'x' });
    expect(await c.next('error')).toMatchObject({ code: 'unknown_type', ref: 'x' });
    expect(await c.waitClose()).toBe(4001);
  });

  it('when a binary frame comes before authentication, then bad_frame says why and the connection closes 4001', async () => {
    const c = await TestClient.connect(t.wsUrl);
    c.ws.send(Buffer.from([0xde, 0xad]), { binary: true });
    expect(await c.next('error')).toMatchObject({
      code: 'bad_frame',
      message: 'Frames must be JSON text frames',
    });
    expect(await c.waitClose()).toBe(4001);
  });

  it('when a ping comes before authentication, then it is answered and the connection stays', async () => {
    const c = await TestClient.connect(t.wsUrl);
    c.send({ type: 'ping', ref: 'early' });
    expect(await c.next('pong')).toMatchObject({ ref: 'early' });
    c.send({ type: 'auth', token: await mintToken('order-2') });
    await c.next('welcome');
    c.close();
  });

  it('when state is unreachable while a connection opens, then unavailable and close 1011, and presence is not leaked', async () => {
    const drivers = createMemoryDrivers();
    const state = drivers.state;
    let failing = true;
    state.sessions.create = () => (failing ? Promise.reject(new Error('redis down')) : Promise.resolve());
    const node = await startTestNode({}, drivers);
    try {
      const c = await TestClient.connect(node.wsUrl, { token: await mintToken('flaky') });
      expect(await c.next('error')).toMatchObject({ code: 'unavailable', retryable: true });
      expect(await c.waitClose()).toBe(1011);
      expect(await state.presence.get('flaky')).toEqual({ connections: 0, nodes: [] });
      failing = false;
      const again = await TestClient.open(node.wsUrl, await mintToken('flaky'));
      again.close();
    } finally {
      await node.stop();
    }
  });

  it('when reading the channel position fails, then the subscribe gets internal with its ref and channel', async () => {
    const drivers = createMemoryDrivers();
    const state = drivers.state;
    state.history.position = () => Promise.reject(new Error('redis down'));
    const node = await startTestNode({}, drivers);
    try {
      const c = await TestClient.open(node.wsUrl, await mintToken('sub-fail'));
      expect(await c.subscribe('user:sub-fail')).toMatchObject({
        type: 'error',
        code: 'internal',
        channel: 'user:sub-fail',
        retryable: true,
      });
      expect(node.node.gateway.fanout.subscriptions).toBe(0);
      c.close();
    } finally {
      await node.stop();
    }
  });

  it('when the state store is unavailable during a subscribe, then unavailable (retryable) with its ref and channel', async () => {
    const drivers = createMemoryDrivers();
    drivers.state.history.position = () => Promise.reject(new StateUnavailableError('redis down'));
    const node = await startTestNode({}, drivers);
    try {
      const c = await TestClient.open(node.wsUrl, await mintToken('sub-down'));
      expect(await c.subscribe('user:sub-down')).toMatchObject({
        type: 'error',
        code: 'unavailable',
        channel: 'user:sub-down',
        retryable: true,
      });
      c.send({ type: 'ping', ref: 'still-open' });
      expect(await c.next('pong')).toMatchObject({ ref: 'still-open' });
      c.close();
    } finally {
      await node.stop();
    }
  });
});
