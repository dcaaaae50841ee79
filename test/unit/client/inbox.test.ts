/**
 * The SDK's inbox calls and read state against a scripted socket: history and ack as requests matched
 * by ref (errors, timeouts, a lost connection, not connected), the unread count and the read event,
 * which never go back within an epoch whatever order the reports come in.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HeraldClient, type ReadEvent } from '../../../shared/client/index.js';
import { fakeSockets } from './fake-socket.js';

let fake: ReturnType<typeof fakeSockets>;
let client: HeraldClient;
let reads: ReadEvent[];

beforeEach(() => {
  vi.useFakeTimers();
  fake = fakeSockets();
  reads = [];
  client = new HeraldClient({
    url: 'ws://herald.test/ws',
    token: 'token-1',
    WebSocket: fake.WebSocket,
    requestTimeoutMs: 1_000,
    random: () => 0.5,
  });
  client.on('read', (e) => reads.push(e));
});
afterEach(() => {
  client.close();
  vi.useRealTimers();
});

/** Connected, subscribed to user:42 at offset 3 of epoch e1 with `read` recorded. */
function connected(read = 1) {
  client.subscribe('user:42');
  client.connect();
  const ws = fake.latest();
  ws.welcome();
  const sub = ws.last('subscribe');
  ws.receive({
    type: 'subscribed',
    channel: 'user:42',
    offset: 3,
    epoch: 'e1',
    recovered: false,
    read,
    ref: sub.ref,
  });
  return ws;
}

describe('HeraldClient inbox', () => {
  it('when subscribed to the user channel, then unread counts from subscribed.read and follows messages and read frames', () => {
    const ws = connected(1);
    expect(client.unread('user:42')).toBe(2);
    expect(reads).toEqual([{ channel: 'user:42', offset: 1, epoch: 'e1', unread: 2 }]);

    ws.message('user:42', 4, 'e1');
    expect(client.unread('user:42')).toBe(3);
    ws.receive({ type: 'read', channel: 'user:42', offset: 4, epoch: 'e1' });
    expect(client.unread('user:42')).toBe(0);
    // An older report arriving late changes nothing, nor does a repeat.
    ws.receive({ type: 'read', channel: 'user:42', offset: 2, epoch: 'e1' });
    ws.receive({ type: 'read', channel: 'user:42', offset: 4, epoch: 'e1' });
    expect(reads.map((r) => r.offset)).toEqual([1, 4]);
    // A new epoch: the old read position means nothing there.
    ws.message('user:42', 1, 'e2');
    expect(client.unread('user:42')).toBe(1);
    expect(client.unread('promotions')).toBeUndefined();
  });

  it('when the app acks, then the ack carries the channel, the last offset and its epoch, and resolves with the read reply', async () => {
    const ws = connected(0);
    const acked = client.ack('user:42');
    const frame = ws.last('ack');
    expect(frame).toMatchObject({ type: 'ack', channel: 'user:42', offset: 3, epoch: 'e1' });
    ws.receive({ type: 'read', channel: 'user:42', offset: 3, epoch: 'e1', ref: frame.ref });
    await expect(acked).resolves.toEqual({ offset: 3, epoch: 'e1' });
    expect(client.unread('user:42')).toBe(0);
  });

  it('when history is asked, then the reply with its ref resolves it; an error with its ref rejects it with the code', async () => {
    const ws = connected();
    const page = client.history('user:42', { since: 1, limit: 2 });
    const frame = ws.last('history');
    expect(frame).toMatchObject({ channel: 'user:42', since: 1, limit: 2 });
    const messages = [
      { type: 'message', channel: 'user:42', offset: 2, epoch: 'e1', id: 'm', event: 'e', data: 1, ts: 1 },
    ];
    ws.receive({
      type: 'history',
      channel: 'user:42',
      offset: 3,
      epoch: 'e1',
      complete: true,
      messages,
      ref: frame.ref,
    });
    await expect(page).resolves.toEqual({
      channel: 'user:42',
      offset: 3,
      epoch: 'e1',
      complete: true,
      messages,
    });

    const denied = client.history('user:7');
    ws.receive({
      type: 'error',
      code: 'permission_denied',
      message: 'no',
      retryable: false,
      channel: 'user:7',
      ref: ws.last('history').ref,
    });
    await expect(denied).rejects.toMatchObject({
      name: 'HeraldError',
      code: 'permission_denied',
      channel: 'user:7',
    });
  });

  it('when a request is not answered, or the connection goes, or there is none, then it fails with a retryable code', async () => {
    const early = client.history('user:42');
    await expect(early).rejects.toMatchObject({ code: 'not_connected', retryable: true });

    const ws = connected();
    const slow = client.history('user:42');
    vi.advanceTimersByTime(1_000);
    await expect(slow).rejects.toMatchObject({ code: 'timeout', retryable: true });

    const cut = client.ack('user:42', 2);
    ws.serverClose(1006);
    await expect(cut).rejects.toMatchObject({ code: 'disconnected', retryable: true });
  });

  it('when ack has no offset and nothing was seen on the channel, then it is a TypeError', async () => {
    await expect(client.ack('user:9')).rejects.toThrow(TypeError);
  });
});
