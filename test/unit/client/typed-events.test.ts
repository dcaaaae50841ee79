import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  HeraldClient,
  isEventData,
  type EventMessage,
  type MessageFrame,
  type OrderStatusData,
  type PromotionData,
} from '../../../shared/client/index.js';
import { fakeSockets, type FakeSocket } from './fake-socket.js';

let fake: ReturnType<typeof fakeSockets>;
let client: HeraldClient;

const order: OrderStatusData = {
  orderId: 'o-1',
  userId: '42',
  status: 'shipped',
  occurredAt: '2026-01-01T00:00:00.000Z',
  details: { carrier: 'DHL' },
};
const promotion: PromotionData = { promotionId: 'p-1', title: 'Sale', body: '-20%', segment: 'vip' };

/** A message frame of `event` on `channel` at `offset` (epoch e1). */
function send(ws: FakeSocket, channel: string, offset: number, event: string, data: unknown): void {
  ws.receive({ type: 'message', channel, offset, epoch: 'e1', id: `m-${offset}`, event, data, ts: 1 });
}

/** A client connected with `channels` subscribed at offset 0. */
function connected(channels: string[]): FakeSocket {
  client = new HeraldClient({ url: 'ws://herald.test/ws', token: 't', WebSocket: fake.WebSocket });
  for (const channel of channels) client.subscribe(channel);
  client.connect();
  const ws = fake.latest();
  ws.welcome();
  for (const channel of channels) ws.subscribed(channel, 0, 'e1');
  return ws;
}

beforeEach(() => {
  fake = fakeSockets();
});
afterEach(() => client.close());

describe('HeraldClient: per-event listeners', () => {
  it('when an order.status message arrives, then onEvent gets its typed data and the message', () => {
    const ws = connected(['user:42']);
    const got: Array<[OrderStatusData, EventMessage<'order.status'>]> = [];
    client.onEvent('order.status', (data, message) => {
      expectTypeOf(data).toEqualTypeOf<OrderStatusData>();
      expectTypeOf(message.event).toEqualTypeOf<'order.status'>();
      got.push([data, message]);
    });
    send(ws, 'user:42', 1, 'order.status', order);
    expect(got).toHaveLength(1);
    expect(got[0]![0]).toEqual(order);
    expect(got[0]![1]).toMatchObject({ channel: 'user:42', offset: 1, id: 'm-1', event: 'order.status' });
  });

  it('when messages of other events arrive, then only the listened event is handed over, in order', () => {
    const ws = connected(['user:42', 'promotions']);
    const statuses: string[] = [];
    const promotions: PromotionData[] = [];
    client.onEvent('order.status', (data) => statuses.push(data.status));
    client.onEvent('promotion', (data) => promotions.push(data));
    send(ws, 'user:42', 1, 'order.status', order);
    send(ws, 'promotions', 1, 'promotion', promotion);
    send(ws, 'user:42', 2, 'notice', { text: 'hi' });
    send(ws, 'user:42', 3, 'order.status', { ...order, status: 'delivered' });
    expect(statuses).toEqual(['shipped', 'delivered']);
    expect(promotions).toEqual([promotion]);
  });

  it('when an event is not declared, then its data is unknown and it is handed over as sent', () => {
    const ws = connected(['user:42']);
    const got: unknown[] = [];
    client.onEvent('cart.updated', (data) => {
      expectTypeOf(data).toEqualTypeOf<unknown>();
      got.push(data);
    });
    send(ws, 'user:42', 1, 'cart.updated', [1, 2]);
    expect(got).toEqual([[1, 2]]);
  });

  it('when the data lacks its type’s fields, then the typed listener skips it and message still gets it', () => {
    const ws = connected(['user:42']);
    const typed: unknown[] = [];
    const all: MessageFrame[] = [];
    client.onEvent('order.status', (data) => typed.push(data));
    client.on('message', (m) => all.push(m));
    send(ws, 'user:42', 1, 'order.status', 'shipped');
    send(ws, 'user:42', 2, 'order.status', { ...order, orderId: 7 });
    send(ws, 'user:42', 3, 'order.status', { ...order, details: 'x' });
    send(ws, 'user:42', 4, 'order.status', order);
    expect(typed).toEqual([order]);
    expect(all.map((m) => m.offset)).toEqual([1, 2, 3, 4]);
  });

  it('when a message is a duplicate, then the typed listener gets it once, as message listeners do', () => {
    const ws = connected(['user:42']);
    const got: number[] = [];
    client.onEvent('order.status', (_data, message) => got.push(message.offset));
    send(ws, 'user:42', 1, 'order.status', order);
    send(ws, 'user:42', 1, 'order.status', order);
    expect(got).toEqual([1]);
  });

  it('when the returned function is called, then the listener gets nothing more', () => {
    const ws = connected(['user:42']);
    const got: number[] = [];
    const off = client.onEvent('order.status', (_data, message) => got.push(message.offset));
    send(ws, 'user:42', 1, 'order.status', order);
    off();
    send(ws, 'user:42', 2, 'order.status', order);
    expect(got).toEqual([1]);
  });

  it('when listening on a subscription, then only that channel’s messages of the event arrive', () => {
    const ws = connected(['user:42', 'order:o-1']);
    const got: string[] = [];
    client.subscription('order:o-1')!.onEvent('order.status', (data, message) => {
      expectTypeOf(data).toEqualTypeOf<OrderStatusData>();
      got.push(`${message.channel} ${data.status}`);
    });
    send(ws, 'user:42', 1, 'order.status', order);
    send(ws, 'order:o-1', 1, 'order.status', order);
    expect(got).toEqual(['order:o-1 shipped']);
  });

  it('when given no event name or no function, then onEvent throws a TypeError', () => {
    connected([]);
    expect(() => client.onEvent('', () => undefined)).toThrow(TypeError);
    expect(() => client.onEvent('x', undefined as unknown as () => void)).toThrow(TypeError);
  });
});

describe('isEventData', () => {
  it('when a promotion has an optional field of the wrong type, then it does not fit', () => {
    expect(isEventData('promotion', promotion)).toBe(true);
    expect(isEventData('promotion', { ...promotion, url: 5 })).toBe(false);
    expect(isEventData('promotion', { ...promotion, data: [] })).toBe(false);
    expect(isEventData('promotion', { promotionId: 'p', title: 't' })).toBe(false);
    expect(isEventData('promotion', null)).toBe(false);
  });

  it('when an order status is one a newer server added, then it still fits', () => {
    expect(isEventData('order.status', { ...order, status: 'on_hold' })).toBe(true);
  });
});
