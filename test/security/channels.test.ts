/**
 * Security suite, channels: who may subscribe to what (the design table, row by row, and the
 * operators' `cluster` channel), and channel names built to escape it (control characters, path
 * tricks, huge names, prototype keys), each refused with its code while the connection stays. Real
 * Redis and RabbitMQ behind the node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postAccepted, publish } from '../helpers/rest-http.js';
import { injector } from '../helpers/rest-inject.js';
import { TestClient } from '../helpers/test-client.js';
import { ADMIN, startBackedNode, type TestNode } from '../helpers/test-node.js';
import { mintToken } from '../helpers/tokens.js';

let t: TestNode;
let alice: TestClient;
let bob: TestClient;

beforeAll(async () => {
  t = await startBackedNode();
  alice = await TestClient.open(t.wsUrl, await mintToken('alice', { segments: ['vip', 'city-paris'] }));
  bob = await TestClient.open(t.wsUrl, await mintToken('bob'));
  await postAccepted(t, '/v1/orders/o-alice/events', { userId: 'alice', status: 'created' });
});
afterAll(async () => {
  alice.close();
  bob.close();
  await t.stop();
});

describe('channel authorization (the design table, row by row)', () => {
  it('user:{id}: the user may subscribe to their own channel only', async () => {
    expect(await alice.subscribe('user:alice')).toMatchObject({ type: 'subscribed', channel: 'user:alice' });
    expect(await alice.subscribe('user:bob')).toMatchObject({
      type: 'error',
      code: 'permission_denied',
      channel: 'user:bob',
      retryable: false,
    });
  });

  it('order:{id}: only the owner learned from the order events may subscribe', async () => {
    expect(await alice.subscribe('order:o-alice')).toMatchObject({ type: 'subscribed', offset: 1 });
    expect(await bob.subscribe('order:o-alice')).toMatchObject({ type: 'error', code: 'permission_denied' });
    // An order nobody has posted events for has no owner yet.
    expect(await alice.subscribe('order:o-unknown')).toMatchObject({
      type: 'error',
      code: 'permission_denied',
    });
  });

  it('promotions: every authenticated user may subscribe', async () => {
    expect(await alice.subscribe('promotions')).toMatchObject({ type: 'subscribed' });
    expect(await bob.subscribe('promotions')).toMatchObject({ type: 'subscribed' });
  });

  it('promotions:{segment}: only users whose token lists the segment', async () => {
    expect(await alice.subscribe('promotions:vip')).toMatchObject({ type: 'subscribed' });
    expect(await alice.subscribe('promotions:city-paris')).toMatchObject({ type: 'subscribed' });
    expect(await alice.subscribe('promotions:city-rome')).toMatchObject({
      type: 'error',
      code: 'permission_denied',
    });
    expect(await bob.subscribe('promotions:vip')).toMatchObject({ type: 'error', code: 'permission_denied' });
  });

  it('cluster: operators only (token claim herald_operator: true), and an operator token opens nothing else', async () => {
    expect(await alice.subscribe('cluster')).toMatchObject({
      type: 'error',
      code: 'permission_denied',
      channel: 'cluster',
      retryable: false,
    });
    // A user token that says it is no operator is an ordinary user.
    const declined = await TestClient.open(
      t.wsUrl,
      await mintToken('carol', { claims: { herald_operator: false } }),
    );
    const operator = await TestClient.open(
      t.wsUrl,
      await mintToken('alice', { claims: { herald_operator: true } }),
    );
    try {
      expect(await declined.subscribe('cluster')).toMatchObject({ type: 'error', code: 'permission_denied' });
      expect(await operator.subscribe('cluster')).toMatchObject({ type: 'subscribed', channel: 'cluster' });
      // Whatever its sub: an operator token is a console's credential, not alice's.
      for (const channel of ['user:alice', 'order:o-alice', 'promotions', 'promotions:vip'])
        expect(await operator.subscribe(channel)).toMatchObject({
          type: 'error',
          code: 'permission_denied',
          channel,
        });
    } finally {
      declined.close();
      operator.close();
    }
  });

  it('cluster: the REST API does not publish to it (only nodes write node stats)', async () => {
    const res = await injector(t)('POST', '/v1/publish', {
      auth: ADMIN,
      body: { channel: 'cluster', event: 'node.stats', data: { node: 'fake' } },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'validation_failed' });
  });

  it('any other channel shape is unknown_channel', async () => {
    for (const channel of ['news', 'user:', 'order:a b', 'promotions:', 'admin:all', 'user:alice:extra']) {
      expect(await alice.subscribe(channel)).toMatchObject({
        type: 'error',
        code: 'unknown_channel',
        channel,
      });
    }
  });

  it('subscribing twice is already_subscribed; unsubscribing is answered and stops delivery', async () => {
    expect(await bob.subscribe('user:bob')).toMatchObject({ type: 'subscribed' });
    expect(await bob.subscribe('user:bob')).toMatchObject({ type: 'error', code: 'already_subscribed' });
    bob.send({ type: 'unsubscribe', channel: 'user:bob', ref: 'u1' });
    expect(await bob.next('unsubscribed')).toMatchObject({ channel: 'user:bob', ref: 'u1' });
    bob.send({ type: 'unsubscribe', channel: 'user:bob', ref: 'u2' });
    expect(await bob.next('error', (f) => f.ref === 'u2')).toMatchObject({ code: 'not_subscribed' });

    await publish(t, 'user:bob', null);
    // A marker on a channel bob still holds proves the earlier message had its chance to arrive.
    await publish(t, 'promotions', null);
    await bob.waitForMessages(1, 'promotions');
    expect(bob.messages('user:bob')).toHaveLength(0);
  });

  it('names with control characters, path tricks or prototype keys are unknown_channel (or permission_denied for a well-formed other user), and nothing of another user leaks', async () => {
    const tricks = [
      'user:bob\u0000',
      'user:alice\nuser:bob',
      'user:alice\r',
      'user:../bob',
      'user:alice/../bob',
      'user:%62ob',
      'order:../o-alice',
      'promotions:../user:bob',
      '__proto__',
      'user:__proto__',
      'constructor',
      'user:bob\u202e',
    ];
    for (const channel of tricks) {
      expect(await alice.subscribe(channel)).toMatchObject({ type: 'error', channel });
    }
    const errors = alice.frames.filter((f) => f.type === 'error' && tricks.includes(f.channel as string));
    expect(new Set(errors.map((f) => f.code))).toEqual(new Set(['unknown_channel', 'permission_denied']));
    expect(alice.frames.some((f) => f.type === 'subscribed' && tricks.includes(f.channel))).toBe(false);
  });

  it('a 10 KB channel name is bad_frame, in subscribe, unsubscribe and resume, and the connection stays', async () => {
    const huge = `user:${'a'.repeat(10_000)}`;
    alice.send({ type: 'subscribe', channel: huge, ref: 'huge-1' });
    expect(await alice.next('error', (f) => f.ref === 'huge-1')).toMatchObject({ code: 'bad_frame' });
    alice.send({ type: 'unsubscribe', channel: huge, ref: 'huge-2' });
    expect(await alice.next('error', (f) => f.ref === 'huge-2')).toMatchObject({ code: 'bad_frame' });
    alice.send({
      type: 'resume',
      session: 'x',
      positions: { [huge]: { offset: 0, epoch: 'e' } },
      ref: 'huge-3',
    });
    expect(await alice.next('error', (f) => f.ref === 'huge-3')).toMatchObject({ code: 'bad_frame' });
    alice.send({ type: 'ping', ref: 'still-open' });
    expect(await alice.next('pong')).toMatchObject({ ref: 'still-open' });
  });

  it('no crafted name reached the state store as a subscription: presence still lists alice once', async () => {
    const res = await fetch(`${t.url}/v1/users/alice/presence`, { headers: { authorization: ADMIN } });
    expect(await res.json()).toMatchObject({ connections: 1 });
  });
});
