import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  HeraldClient,
  closeAction,
  type HeraldClientOptions,
  type HeraldError,
  type MessageFrame,
  type RecoveryEvent,
  type StateChange,
  type TokenReason,
} from '../../../shared/client/index.js';
import { fakeSockets, type FakeSocket } from './fake-socket.js';

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

/** Connects, subscribes `channels`, answers each at offset 0, and returns the socket. */
function connected(channels: string[], session = 's-1'): FakeSocket {
  for (const channel of channels) client.subscribe(channel);
  client.connect();
  const ws = fake.latest();
  ws.welcome(session);
  for (const channel of channels) ws.subscribed(channel, 0, 'e1');
  return ws;
}

/** Runs timers until the client opened another socket. */
function nextSocket(): FakeSocket {
  const before = fake.sockets.length;
  vi.advanceTimersByTime(1_000);
  expect(fake.sockets.length).toBe(before + 1);
  return fake.latest();
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

describe('HeraldClient: close codes', () => {
  it('maps each close code to an action', () => {
    expect([4001, 4004, 1008].map(closeAction)).toEqual(['stop', 'stop', 'stop']);
    expect(closeAction(4003)).toBe('refresh');
    expect(closeAction(4008)).toBe('slow');
    expect([1000, 1001, 1006, 1011, 1013, 4002, undefined].map(closeAction)).toEqual(
      Array(7).fill('reconnect'),
    );
  });

  it('when the connection drops (1006), then the client reports disconnected and reconnects after a jittered delay', () => {
    start();
    const ws = connected(['user:42']);
    ws.serverClose(1006);
    expect(client.state).toBe('disconnected');
    expect(states.at(-1)).toMatchObject({ state: 'disconnected', code: 1006, retryInMs: 50 });
    expect(client.subscription('user:42')?.state).toBe('pending');
    vi.advanceTimersByTime(49);
    expect(fake.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(fake.sockets).toHaveLength(2);
    expect(client.state).toBe('connecting');
    expect(client.stats.reconnects).toBe(1);
  });

  it.each([
    [4001, 'unauthorized'],
    [4004, 'disconnected'],
    [1008, 'policy_violation'],
  ])('when closed with %i, then the client stops and reports %s', (code, reported) => {
    start();
    const ws = connected(['user:42']);
    ws.serverClose(code);
    expect(client.state).toBe('closed');
    expect(errors.map((e) => [e.code, e.closeCode])).toEqual([[reported, code]]);
    expect(states.at(-1)).toMatchObject({ state: 'closed', code });
    vi.advanceTimersByTime(60_000);
    expect(fake.sockets).toHaveLength(1);
    // The app may start again; the subscription is still wanted.
    client.connect();
    fake.latest().welcome('s-2');
    expect(fake.latest().last('resume')).toMatchObject({
      positions: { 'user:42': { offset: 0, epoch: 'e1' } },
    });
  });

  it('when the token is refused at authentication, then the client stops and reports the server error code', () => {
    start();
    client.connect();
    const ws = fake.latest();
    ws.open();
    ws.receive({
      type: 'error',
      code: 'token_invalid',
      message: 'Token is invalid',
      retryable: false,
      ref: ws.last('auth').ref,
    });
    ws.serverClose(4001, 'token_invalid');
    expect(client.state).toBe('closed');
    expect(errors.map((e) => [e.code, e.message, e.closeCode])).toEqual([
      ['token_invalid', 'Token is invalid', 4001],
    ]);
  });

  it('when the app reconnects from its error listener after a stop, then the new attempt stands', () => {
    start();
    const ws = connected([]);
    client.once('error', () => client.connect());
    ws.serverClose(4004);
    expect(client.state).toBe('connecting');
    expect(fake.sockets).toHaveLength(2);
  });

  it('when the token expires (4003), then the token function is asked for a fresh one and the client reconnects', async () => {
    const reasons: TokenReason[] = [];
    start({
      token: ({ reason }) => {
        reasons.push(reason);
        return Promise.resolve(`token-${reasons.length}`);
      },
    });
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    fake.latest().welcome();
    fake.latest().serverClose(4003, 'token_expired');
    expect(client.state).toBe('disconnected');
    await vi.advanceTimersByTimeAsync(1_000);
    const ws = fake.latest();
    ws.welcome('s-2');
    expect(ws.last('auth')).toMatchObject({ token: 'token-2' });
    expect(reasons).toEqual(['connect', 'expired']);
    expect(client.stats.tokenRequests).toBe(2);
  });

  it('when the token expires and it is a plain string, then the client stops with token_expired', () => {
    start();
    connected([]).serverClose(4003);
    expect(client.state).toBe('closed');
    expect(errors.map((e) => e.code)).toEqual(['token_expired']);
  });

  it('when the token function fails, then the error is reported and the client tries again later', async () => {
    let fail = true;
    start({ token: () => (fail ? Promise.reject(new Error('auth server down')) : 'ok') });
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    expect(errors.map((e) => e.code)).toEqual(['token_unavailable']);
    expect(client.state).toBe('disconnected');
    fail = false;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fake.sockets).toHaveLength(1);
    fake.latest().welcome();
    expect(client.state).toBe('connected');
  });

  it('when too many connections (4008), then the next attempt waits on a much higher ceiling', () => {
    start({ random: () => 0.999, maxReconnectDelayMs: 30_000 });
    connected([]).serverClose(4008);
    const slow = states.at(-1)!.retryInMs!;
    expect(slow).toBeGreaterThan(1_000); // ceiling 100 × 2^4
    expect(slow).toBeLessThan(1_600);
  });

  it('when attempts keep failing, then delays grow, and a connection that stays up resets them', () => {
    start({ random: () => 0.999, stableAfterMs: 5_000 });
    client.connect();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      fake.latest().serverClose(1006);
      delays.push(states.at(-1)!.retryInMs!);
      vi.advanceTimersByTime(2_000);
    }
    expect(delays).toEqual([99, 199, 399, 799]);
    fake.latest().welcome('s-1', { heartbeatMs: 60_000 });
    vi.advanceTimersByTime(4_000);
    fake.latest().serverClose(1006);
    expect(states.at(-1)!.retryInMs).toBe(999); // up only 4 s: not reset
    vi.advanceTimersByTime(2_000);
    fake.latest().welcome('s-1', { heartbeatMs: 60_000 });
    vi.advanceTimersByTime(5_000);
    fake.latest().serverClose(1006);
    expect(states.at(-1)!.retryInMs).toBe(99);
  });

  it('when no welcome arrives in time, then the attempt is dropped and retried', () => {
    start({ connectTimeoutMs: 3_000 });
    client.connect();
    fake.latest().open();
    vi.advanceTimersByTime(3_000);
    expect(fake.sockets[0]!.closedByClient).toBeDefined();
    expect(states.at(-1)).toMatchObject({ state: 'disconnected', reason: 'connect timeout' });
    nextSocket();
  });

  it('when close() is called, then the socket is closed with 1000 and nothing reconnects', () => {
    start();
    const ws = connected(['user:42']);
    client.close();
    expect(ws.closedByClient).toEqual({ code: 1000, reason: 'client closed' });
    expect(client.state).toBe('closed');
    ws.serverClose(1000); // late event of the old socket: ignored
    vi.advanceTimersByTime(60_000);
    expect(fake.sockets).toHaveLength(1);
  });
});

describe('HeraldClient: resume and recovery after a reconnect', () => {
  it('when reconnected, then it resumes the previous session with its positions, and restored channels are recovered', () => {
    start();
    const ws = connected(['user:42', 'promotions']);
    ws.message('user:42', 1, 'e1');
    ws.message('user:42', 2, 'e1');
    ws.serverClose(1001);
    const next = nextSocket();
    next.welcome('s-2');
    expect(next.last('resume')).toMatchObject({
      session: 's-1',
      positions: { 'user:42': { offset: 2, epoch: 'e1' }, promotions: { offset: 0, epoch: 'e1' } },
    });
    expect(next.frames('subscribe')).toEqual([]); // nothing explicit while the resume is out
    const ref = next.last('resume').ref;
    next.receive({ type: 'subscribed', channel: 'user:42', offset: 4, epoch: 'e1', recovered: true });
    next.message('user:42', 2, 'e1'); // overlap: dropped
    next.message('user:42', 3, 'e1');
    next.message('user:42', 4, 'e1');
    next.receive({ type: 'subscribed', channel: 'promotions', offset: 5, epoch: 'p2', recovered: false });
    next.receive({ type: 'resumed', session: 's-1', channels: ['user:42', 'promotions', 'user:gone'], ref });
    expect(client.session).toBe('s-1');
    expect(messages.map((m) => m.offset)).toEqual([1, 2, 3, 4]);
    expect(client.stats).toMatchObject({ resumes: 1, duplicatesDropped: 1 });
    expect(recoveries.slice(2)).toEqual([
      expect.objectContaining({ channel: 'user:42', recovered: true, resumed: true, refetch: false }),
      expect.objectContaining({ channel: 'promotions', recovered: false, resumed: true, refetch: true }),
    ]);
    // A channel the old session held but the app no longer wants is dropped; nothing else is sent.
    expect(next.frames('unsubscribe')).toEqual([expect.objectContaining({ channel: 'user:gone' })]);
    expect(next.frames('subscribe')).toEqual([]);
  });

  it('when the resumed session lacks a wanted channel, then that channel is subscribed explicitly with its position', () => {
    start();
    const ws = connected(['user:42']);
    ws.message('user:42', 3, 'e1');
    ws.serverClose(1006);
    client.subscribe('promotions', { offset: 9, epoch: 'p1' }); // wanted while away
    const next = nextSocket();
    next.welcome('s-2');
    next.receive({ type: 'subscribed', channel: 'user:42', offset: 3, epoch: 'e1', recovered: true });
    next.receive({ type: 'resumed', session: 's-1', channels: ['user:42'], ref: next.last('resume').ref });
    expect(next.frames('subscribe')).toEqual([
      expect.objectContaining({ channel: 'promotions', offset: 9, epoch: 'p1' }),
    ]);
  });

  it.each(['unknown_type', 'session_not_found'])(
    'when resume is answered %s, then every channel is subscribed by hand with its position',
    (code) => {
      start();
      const ws = connected(['user:42', 'promotions']);
      ws.message('user:42', 5, 'e1');
      ws.serverClose(1006);
      const next = nextSocket();
      next.welcome('s-2');
      next.receive({ type: 'error', code, message: 'no', retryable: false, ref: next.last('resume').ref });
      expect(next.frames('subscribe')).toEqual([
        expect.objectContaining({ channel: 'user:42', offset: 5, epoch: 'e1' }),
        expect.objectContaining({ channel: 'promotions', offset: 0, epoch: 'e1' }),
      ]);
      expect(client.stats.resumeFallbacks).toBe(1);
      expect(client.session).toBe('s-2');
      expect(errors).toEqual([]);
    },
  );

  it('when a resumed channel fails, then a retryable error is retried and a final one fails the subscription', () => {
    start();
    const ws = connected(['user:42', 'order:o-1']);
    ws.serverClose(1006);
    const next = nextSocket();
    next.welcome('s-2');
    const ref = next.last('resume').ref;
    next.receive({ type: 'error', code: 'unavailable', message: '', retryable: true, channel: 'user:42' });
    next.receive({
      type: 'error',
      code: 'permission_denied',
      message: '',
      retryable: false,
      channel: 'order:o-1',
    });
    next.receive({ type: 'resumed', session: 's-1', channels: [], ref });
    expect(client.subscription('order:o-1')).toBeUndefined();
    expect(errors.map((e) => [e.code, e.channel])).toEqual([['permission_denied', 'order:o-1']]);
    expect(next.frames('subscribe')).toEqual([]); // user:42 waits for its backoff
    vi.advanceTimersByTime(100);
    expect(next.frames('subscribe')).toEqual([expect.objectContaining({ channel: 'user:42' })]);
  });

  it('when the connection drops while a resume is out, then the next connection resumes the same session', () => {
    start();
    connected(['user:42']).serverClose(1006);
    const second = nextSocket();
    second.welcome('s-2');
    expect(second.last('resume')).toMatchObject({ session: 's-1' });
    second.serverClose(1006);
    const third = nextSocket();
    third.welcome('s-3');
    expect(third.last('resume')).toMatchObject({ session: 's-1' });
    third.receive({
      type: 'error',
      code: 'session_not_found',
      message: '',
      retryable: false,
      ref: third.last('resume').ref,
    });
    expect(client.session).toBe('s-3');
  });

  it('when resume is disabled, then channels are always subscribed by hand', () => {
    start({ resume: false });
    connected(['user:42']).serverClose(1006);
    const next = nextSocket();
    next.welcome('s-2');
    expect(next.frames('resume')).toEqual([]);
    expect(next.frames('subscribe')).toHaveLength(1);
  });

  it('when a session id is given, then the first connection resumes it (e.g. after a page reload)', () => {
    start({ session: 'persisted' });
    client.subscribe('user:42', { offset: 3, epoch: 'e1' });
    client.connect();
    const ws = fake.latest();
    ws.welcome('fresh');
    expect(ws.last('resume')).toMatchObject({
      session: 'persisted',
      positions: { 'user:42': { offset: 3 } },
    });
  });
});

describe('HeraldClient: heartbeat and server-requested reconnects', () => {
  it('when the server goes silent, then a ping is sent every heartbeatMs and the connection is dropped after 2 × heartbeatMs', () => {
    start();
    const ws = connected(['user:42']);
    ws.receive({ type: 'pong', ts: 1 });
    vi.advanceTimersByTime(25_000);
    expect(ws.frames('ping')).toHaveLength(1);
    ws.receive({ type: 'pong', ts: 2 }); // any frame counts as a sign of life
    vi.advanceTimersByTime(49_999);
    expect(client.state).toBe('connected');
    vi.advanceTimersByTime(1);
    expect(client.stats.heartbeatTimeouts).toBe(1);
    expect(ws.closedByClient).toBeDefined();
    expect(states.at(-1)).toMatchObject({ state: 'disconnected', reason: 'heartbeat timeout' });
    nextSocket();
  });

  it('when heartbeatTimeoutMs is set lower, then pings come often enough not to trip it', () => {
    start({ heartbeatTimeoutMs: 1_000 });
    const ws = connected([]);
    vi.advanceTimersByTime(500);
    expect(ws.frames('ping')).toHaveLength(1);
    ws.receive({ type: 'pong', ts: 1 });
    vi.advanceTimersByTime(999);
    expect(client.state).toBe('connected');
    vi.advanceTimersByTime(1);
    expect(client.state).toBe('disconnected');
  });

  it('when the server sends reconnect, then after afterMs the client moves to the given URL once, resuming', () => {
    start({ random: () => 0 });
    const ws = connected(['user:42']);
    ws.receive({ type: 'reconnect', afterMs: 2_000, url: 'ws://other.test/ws' });
    vi.advanceTimersByTime(1_999);
    expect(client.state).toBe('connected');
    ws.message('user:42', 1, 'e1'); // still served meanwhile
    vi.advanceTimersByTime(1);
    expect(ws.closedByClient).toMatchObject({ code: 1000 });
    vi.advanceTimersByTime(1); // the reconnect runs on the next timer turn
    expect(fake.latest().url).toBe('ws://other.test/ws');
    fake.latest().welcome('s-2');
    expect(fake.latest().last('resume')).toMatchObject({
      session: 's-1',
      positions: { 'user:42': { offset: 1 } },
    });
    fake.latest().serverClose(1006);
    vi.advanceTimersByTime(1_000);
    expect(fake.latest().url).toBe('ws://herald.test/ws');
  });

  it('when the server closes before the requested time, then the client still waits for afterMs', () => {
    start({ random: () => 0 });
    const ws = connected([]);
    ws.receive({ type: 'reconnect', afterMs: 3_000 });
    vi.advanceTimersByTime(1_000);
    ws.serverClose(1012);
    expect(states.at(-1)).toMatchObject({ state: 'disconnected', retryInMs: 2_000 });
    vi.advanceTimersByTime(1_999);
    expect(fake.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(fake.sockets).toHaveLength(2);
  });
});
