import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  HeraldClient,
  type HeraldClientOptions,
  type HeraldError,
  type MessageFrame,
  type RecoveryEvent,
  type StateChange,
} from '../../../shared/client/index.js';
import { fakeSockets } from './fake-socket.js';

let fake: ReturnType<typeof fakeSockets>;
/** The client under test; `start()` sets it. */
let client: HeraldClient;
let states: StateChange[];
let messages: MessageFrame[];
let recoveries: RecoveryEvent[];
let errors: HeraldError[];

function start(options: Partial<HeraldClientOptions> = {}): HeraldClient {
  const c = new HeraldClient({
    url: 'ws://herald.test/ws',
    token: 'token-1',
    WebSocket: fake.WebSocket,
    minReconnectDelayMs: 100,
    maxReconnectDelayMs: 1_000,
    random: () => 0.5,
    ...options,
  });
  c.on('state', (s) => states.push(s));
  c.on('message', (m) => messages.push(m));
  c.on('recovery', (r) => recoveries.push(r));
  c.on('error', (e) => errors.push(e));
  client = c;
  return c;
}

beforeEach(() => {
  vi.useFakeTimers();
  fake = fakeSockets();
  states = [];
  messages = [];
  recoveries = [];
  errors = [];
});
afterEach(() => {
  (client as HeraldClient | undefined)?.close();
  client = undefined as unknown as HeraldClient;
  vi.useRealTimers();
});

describe('HeraldClient: connecting and subscribing', () => {
  it('when connected, then it authenticates with an auth frame, and subscribes what was asked for after welcome', () => {
    start();
    const sub = client.subscribe('user:42');
    client.connect();
    expect(client.state).toBe('connecting');
    const ws = fake.latest();
    expect(ws.url).toBe('ws://herald.test/ws'); // no token in the URL
    ws.open();
    // Named in auth (docs/protocol.md 2.7); this welcome does not answer them (a server that does not
    // know `channels`), so they are subscribed after it.
    expect(ws.sent).toEqual([
      { type: 'auth', token: 'token-1', channels: ['user:42'], ref: expect.any(Number) as number },
    ]);
    ws.welcome('s-1');
    expect(client.state).toBe('connected');
    expect(client.session).toBe('s-1');
    expect(client.node).toBe('node-a');
    expect(ws.last('subscribe')).toMatchObject({ channel: 'user:42' });
    expect(ws.last('subscribe')).not.toHaveProperty('offset');
    expect(sub.state).toBe('pending');

    ws.subscribed('user:42', 7, 'e1');
    expect(sub.state).toBe('subscribed');
    expect(recoveries).toEqual([
      { channel: 'user:42', recovered: false, offset: 7, epoch: 'e1', refetch: false, resumed: false },
    ]);
    expect(client.position('user:42')).toEqual({ offset: 7, epoch: 'e1' });
    expect(states.map((s) => s.state)).toEqual(['connecting', 'connected']);
  });

  it('when the welcome answers the channels named in auth, then they are subscribed from their replies, with no subscribe frame', () => {
    start();
    const user = client.subscribe('user:42');
    const vip = client.subscribe('promotions:vip');
    client.connect();
    const ws = fake.latest();
    ws.open();
    expect(ws.last('auth')).toMatchObject({ channels: ['user:42', 'promotions:vip'] });
    ws.welcome('s-1', { named: 2 });
    expect(ws.sent.filter((f) => f.type === 'subscribe')).toEqual([]);
    expect(user.state).toBe('pending');
    ws.receive({ type: 'subscribed', channel: 'user:42', offset: 3, epoch: 'e1', recovered: false, read: 0 });
    ws.receive({
      type: 'error',
      code: 'permission_denied',
      message: 'Not allowed',
      retryable: false,
      channel: 'promotions:vip',
    });
    expect(user.state).toBe('subscribed');
    expect(client.position('user:42')).toEqual({ offset: 3, epoch: 'e1' });
    expect(recoveries).toEqual([
      { channel: 'user:42', recovered: false, offset: 3, epoch: 'e1', refetch: false, resumed: false },
    ]);
    expect(vip.state).toBe('failed');
    expect(errors.map((e) => [e.code, e.channel])).toEqual([['permission_denied', 'promotions:vip']]);
    ws.message('user:42', 4, 'e1');
    expect(messages.map((m) => m.offset)).toEqual([4]);

    // Reconnecting with a session to resume: nothing is named, the session brings the channels back.
    ws.serverClose(1006);
    vi.advanceTimersByTime(5_000);
    const next = fake.latest();
    expect(next).not.toBe(ws);
    next.open();
    expect(next.last('auth')).not.toHaveProperty('channels');
  });

  it('when the wanted channels would make the auth frame too big, then only those within the budget are named, and after a 1009 none', () => {
    start();
    const names = Array.from(
      { length: 100 },
      (_, i) => `order:${String(i).padStart(3, '0')}-${'x'.repeat(90)}`,
    );
    for (const name of names) client.subscribe(name);
    client.connect();
    const ws = fake.latest();
    ws.open();
    const named = ws.last('auth').channels as string[];
    expect(named.length).toBeGreaterThan(0);
    expect(named.length).toBeLessThan(100);
    expect(JSON.stringify(ws.last('auth')).length).toBeLessThan(8_192);
    ws.welcome('s-1', { named: named.length });
    // The rest are subscribed with frames after the welcome.
    expect(ws.sent.filter((f) => f.type === 'subscribe').map((f) => f.channel)).toEqual(
      names.slice(named.length),
    );

    // A server with a lower bound closes such a frame 1009 unread: the next attempt names nothing.
    ws.serverClose(1006);
    vi.advanceTimersByTime(5_000);
    client.close();
    start({ resume: false });
    for (const name of names.slice(0, 3)) client.subscribe(name);
    client.connect();
    const refused = fake.latest();
    refused.open();
    expect(refused.last('auth').channels).toHaveLength(3);
    refused.serverClose(1009);
    vi.advanceTimersByTime(5_000);
    const next = fake.latest();
    expect(next).not.toBe(refused);
    next.open();
    expect(next.last('auth')).not.toHaveProperty('channels');
    next.welcome('s-2');
    expect(next.sent.filter((f) => f.type === 'subscribe')).toHaveLength(3);
  });

  it('when a channel named in auth is let go of before its reply, then the reply is answered with an unsubscribe', () => {
    start();
    const sub = client.subscribe('promotions');
    client.connect();
    const ws = fake.latest();
    ws.open();
    sub.unsubscribe();
    ws.welcome('s-1', { named: 1 });
    ws.receive({ type: 'subscribed', channel: 'promotions', offset: 0, epoch: 'p', recovered: false });
    expect(ws.last('unsubscribe')).toMatchObject({ channel: 'promotions' });
    expect(recoveries).toEqual([]);
  });

  it('when messages arrive, then each offset is delivered once, per channel and to the client', () => {
    start();
    const sub = client.subscribe('user:42');
    const own: number[] = [];
    sub.on('message', (m) => own.push(m.offset));
    client.connect();
    const ws = fake.latest();
    ws.welcome();
    ws.subscribed('user:42', 0, 'e1');
    for (const offset of [1, 2, 2, 1, 3]) ws.message('user:42', offset, 'e1');
    ws.message('promotions', 1, 'p1'); // not subscribed: ignored
    expect(own).toEqual([1, 2, 3]);
    expect(messages.map((m) => m.offset)).toEqual([1, 2, 3]);
    expect(client.stats).toMatchObject({ messages: 3, duplicatesDropped: 2 });
    // A new epoch starts over.
    ws.message('user:42', 1, 'e2');
    expect(own).toEqual([1, 2, 3, 1]);
    expect(sub.position).toEqual({ offset: 1, epoch: 'e2' });
  });

  it('when subscribing with a seeded position, then the subscribe carries it and recovered:false asks the app to refetch', () => {
    start();
    client.subscribe('user:42', { offset: 5, epoch: 'e1' });
    client.connect();
    const ws = fake.latest();
    ws.welcome();
    expect(ws.last('subscribe')).toMatchObject({ channel: 'user:42', offset: 5, epoch: 'e1' });
    ws.subscribed('user:42', 9, 'e2', false);
    expect(recoveries[0]).toMatchObject({
      recovered: false,
      refetch: true,
      offset: 9,
      epoch: 'e2',
      previous: { offset: 5, epoch: 'e1' },
    });
    expect(client.position('user:42')).toEqual({ offset: 9, epoch: 'e2' });
    ws.message('user:42', 9, 'e2'); // at the reported position: already reflected by the refetch
    ws.message('user:42', 10, 'e2');
    expect(messages.map((m) => m.offset)).toEqual([10]);
  });

  it('when recovered:true, then the replayed messages after the sent position are delivered, each once', () => {
    start();
    client.subscribe('user:42', { offset: 5, epoch: 'e1' });
    client.connect();
    const ws = fake.latest();
    ws.welcome();
    ws.subscribed('user:42', 8, 'e1', true);
    for (const offset of [6, 7, 8, 8, 9]) ws.message('user:42', offset, 'e1');
    expect(messages.map((m) => m.offset)).toEqual([6, 7, 8, 9]);
    expect(recoveries[0]).toMatchObject({ recovered: true, refetch: false });
  });

  it('when subscribe is answered with a retryable error, then it is sent again after a backoff', () => {
    start();
    const sub = client.subscribe('user:42');
    client.connect();
    const ws = fake.latest();
    ws.welcome();
    const first = ws.last('subscribe');
    ws.receive({
      type: 'error',
      code: 'unavailable',
      message: 'down',
      retryable: true,
      channel: 'user:42',
      ref: first.ref,
    });
    expect(ws.frames('subscribe')).toHaveLength(1);
    vi.advanceTimersByTime(100); // random 0.5 × ceiling 100
    expect(ws.frames('subscribe')).toHaveLength(2);
    ws.subscribed('user:42', 0, 'e1');
    expect(sub.state).toBe('subscribed');
    expect(client.stats.subscribeRetries).toBe(1);
    expect(errors).toEqual([]);
  });

  it('when subscribe is refused for good, then the subscription fails with an error event and is dropped', () => {
    start();
    const sub = client.subscribe('order:o-1');
    const subErrors: HeraldError[] = [];
    sub.on('error', (e) => subErrors.push(e));
    client.connect();
    const ws = fake.latest();
    ws.welcome();
    ws.receive({
      type: 'error',
      code: 'permission_denied',
      message: 'no',
      retryable: false,
      channel: 'order:o-1',
      ref: ws.last('subscribe').ref,
    });
    expect(sub.state).toBe('failed');
    expect(subErrors.map((e) => [e.code, e.channel])).toEqual([['permission_denied', 'order:o-1']]);
    expect(errors).toHaveLength(1);
    expect(client.subscription('order:o-1')).toBeUndefined();
    vi.advanceTimersByTime(60_000);
    expect(ws.frames('subscribe')).toHaveLength(1);
  });

  it('when a subscribe gets no reply in time, then it is sent again and the first reply counts', () => {
    start({ requestTimeoutMs: 1_000 });
    client.subscribe('user:42');
    client.connect();
    const ws = fake.latest();
    ws.welcome('s-1', { heartbeatMs: 60_000 });
    const first = ws.last('subscribe');
    vi.advanceTimersByTime(1_000);
    expect(ws.frames('subscribe')).toHaveLength(2);
    ws.receive({
      type: 'subscribed',
      channel: 'user:42',
      offset: 3,
      epoch: 'e1',
      recovered: false,
      ref: first.ref,
    });
    ws.receive({
      type: 'error',
      code: 'already_subscribed',
      message: 'dup',
      retryable: false,
      channel: 'user:42',
      ref: ws.last('subscribe').ref,
    });
    expect(client.subscription('user:42')?.state).toBe('subscribed');
    expect(recoveries).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it('when unsubscribing, then an unsubscribe is sent and later messages of the channel are ignored', () => {
    start();
    const sub = client.subscribe('user:42');
    client.connect();
    const ws = fake.latest();
    ws.welcome();
    ws.subscribed('user:42', 0, 'e1');
    sub.unsubscribe();
    expect(ws.last('unsubscribe')).toMatchObject({ channel: 'user:42' });
    expect(sub.state).toBe('unsubscribed');
    ws.message('user:42', 1, 'e1');
    expect(messages).toEqual([]);
  });

  it('when the server speaks another protocol version, then the client stops and reports it', () => {
    start();
    client.connect();
    fake.latest().welcome('s-1', { protocol: 'herald.v2' });
    expect(client.state).toBe('closed');
    expect(errors.map((e) => e.code)).toEqual(['protocol_mismatch']);
  });

  it('when a listener throws, then the client goes on and the error surfaces on a microtask', () => {
    const thrown: unknown[] = [];
    vi.stubGlobal('queueMicrotask', (fn: () => void) => {
      try {
        fn();
      } catch (err) {
        thrown.push(err);
      }
    });
    try {
      start();
      client.subscribe('user:42');
      client.on('message', () => {
        throw new Error('app bug');
      });
      client.connect();
      const ws = fake.latest();
      ws.welcome();
      ws.subscribed('user:42', 0, 'e1');
      ws.message('user:42', 1, 'e1');
      ws.message('user:42', 2, 'e1');
      expect(messages.map((m) => m.offset)).toEqual([1, 2]);
      expect(client.position('user:42')).toEqual({ offset: 2, epoch: 'e1' });
      expect(thrown).toHaveLength(2);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('guests', () => {
  it('when neither a token nor guest: true is given, then the constructor refuses; with both, too', () => {
    expect(() => start({ token: undefined })).toThrow(/token must be a string/);
    expect(() => start({ guest: true })).toThrow(/not both/);
  });

  it('when guest: true, then the auth frame carries no token', () => {
    start({ token: undefined, guest: true });
    client.connect();
    const ws = fake.latest();
    ws.open();
    expect(ws.last('auth')).not.toHaveProperty('token');
  });
});
