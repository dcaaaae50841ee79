/**
 * The Publisher's targeted routing (shared/core/publisher.ts, router.ts) over the memory drivers: who
 * gets each message (this node without the bus, the bus to the nodes named, or every node), and that
 * each route lookup is issued right after its append.
 */
import { describe, expect, it } from 'vitest';
import { BusUnavailableError } from '../../../shared/bus/bus.js';
import { MemoryBroker, MemoryBus } from '../../../shared/bus/memory-bus.js';
import { decodeEnvelope } from '../../../shared/core/envelope.js';
import { Publisher, type Route } from '../../../shared/core/publisher.js';
import { PresenceRouter, type Router } from '../../../shared/core/router.js';
import { defaultHistory } from '../../../shared/config/config.js';
import { MemoryPresence } from '../../../shared/state/memory/memory-state.js';
import { MemoryHistory } from '../../../shared/state/memory/memory-history.js';
import type { History } from '../../../shared/state/history.js';
import { retentionResolver } from '../../../shared/state/retention.js';
import { waitFor } from '../../helpers/wait.js';

interface Setup {
  publisher: Publisher;
  presence: MemoryPresence;
  /** Offsets each node got, by node id ('self' is the publishing node): from the bus or locally. */
  got: Record<string, number[]>;
  busPublishes: (readonly string[] | undefined)[];
  routes: Route[];
}

const offsetOf = (envelope: Buffer): number => {
  const decoded = decodeEnvelope(envelope);
  if (decoded?.kind !== 'message') throw new Error('not a message envelope');
  return decoded.offset;
};

async function setup(router?: (presence: MemoryPresence) => Router, history?: History): Promise<Setup> {
  const broker = new MemoryBroker();
  const presence = new MemoryPresence();
  const got: Record<string, number[]> = { self: [], other: [], third: [] };
  const buses = Object.fromEntries(Object.keys(got).map((id) => [id, new MemoryBus(broker, id)]));
  for (const [id, bus] of Object.entries(buses))
    await bus.start((payload) => got[id]!.push(offsetOf(payload)));
  const self = buses.self!;
  const busPublishes: (readonly string[] | undefined)[] = [];
  const publish = self.publish.bind(self);
  self.publish = (payload, nodes) => {
    busPublishes.push(nodes);
    return publish(payload, nodes);
  };
  const routes: Route[] = [];
  const publisher = new Publisher(
    self,
    history ?? new MemoryHistory(retentionResolver(defaultHistory())),
    { published: (_channel, route) => routes.push(route), busFailed: () => undefined },
    {
      nodeId: 'self',
      router: (router ?? ((p) => new PresenceRouter(p)))(presence),
      local: (envelope) => got.self!.push(offsetOf(envelope)),
    },
  );
  return { publisher, presence, got, busPublishes, routes };
}

const message = (channel: string) => ({ channel, event: 'tick', dataJson: '1' });
/** Lets the memory broker's microtask deliveries run. */
const drained = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Publisher routing', () => {
  it('when only this node holds the user, then the message is delivered here at once and the bus is not used', async () => {
    const s = await setup();
    await s.presence.add('u1', 'c1', 'self');
    await s.publisher.publish(message('user:u1'));
    expect(s.got.self).toEqual([1]); // synchronously, before any bus delivery could run
    await drained();
    expect(s.got).toEqual({ self: [1], other: [], third: [] });
    expect(s.busPublishes).toEqual([]);
    expect(s.routes).toEqual(['local']);
  });

  it('when this node and another hold the user, then this node delivers its own and the bus carries one copy to the other only', async () => {
    const s = await setup();
    await s.presence.add('u1', 'c1', 'self');
    await s.presence.add('u1', 'c2', 'other');
    await s.publisher.publish(message('user:u1'));
    await drained();
    expect(s.got).toEqual({ self: [1], other: [1], third: [] });
    expect(s.busPublishes).toEqual([['other']]);
    expect(s.routes).toEqual(['targeted']);
  });

  it('when the user is on other nodes only, then the bus carries it to those nodes', async () => {
    const s = await setup();
    await s.presence.add('u1', 'c1', 'other');
    await s.presence.add('u1', 'c2', 'third');
    await s.publisher.publish(message('user:u1'));
    await drained();
    expect(s.got).toEqual({ self: [], other: [1], third: [1] });
    expect(s.routes).toEqual(['targeted']);
  });

  it('when an order message names its owner, then it goes to the owner’s nodes like the owner’s own channel', async () => {
    const s = await setup();
    await s.presence.add('u1', 'c1', 'other');
    await s.publisher.publishMany([
      { ...message('user:u1'), id: 'e1' },
      { ...message('order:o1'), id: 'e1', routeUser: 'u1' },
    ]);
    await drained();
    expect(s.got).toEqual({ self: [], other: [1, 1], third: [] });
    expect(s.busPublishes).toEqual([['other'], ['other']]);
  });

  it('when presence knows no connection of the user, then the message is stored and goes to no node, not even through the bus', async () => {
    const s = await setup();
    const published = await s.publisher.publishMany([
      message('user:nobody'),
      { ...message('order:o1'), routeUser: 'nobody' },
    ]);
    await drained();
    expect(published.map((m) => [m.channel, m.offset])).toEqual([
      ['user:nobody', 1],
      ['order:o1', 1],
    ]);
    expect(s.got).toEqual({ self: [], other: [], third: [] });
    expect(s.busPublishes).toEqual([]);
    expect(s.routes).toEqual(['none', 'none']);
  });

  it('when the channel is not a user channel and names no user, then every node gets it', async () => {
    const s = await setup();
    await s.publisher.publish(message('promotions'));
    await s.publisher.publish(message('order:o1'));
    await drained();
    expect(s.got).toEqual({ self: [1, 1], other: [1, 1], third: [1, 1] });
    expect(s.busPublishes).toEqual([undefined, undefined]);
    expect(s.routes).toEqual(['broadcast', 'broadcast']);
  });

  it('when the route lookup fails, then the stored message goes to every node', async () => {
    const failing = await setup((presence) => {
      presence.nodesOf = () => Promise.reject(new Error('state store down'));
      return new PresenceRouter(presence);
    });
    await failing.publisher.publish(message('user:u1'));
    await drained();
    expect(failing.got).toEqual({ self: [1], other: [1], third: [1] });
    expect(failing.routes).toEqual(['broadcast']);
  });

  it('when the bus refuses a targeted message, then it is sent again to the same nodes only', async () => {
    const s = await setup();
    await s.presence.add('u1', 'c1', 'other');
    const bus = s.publisher['bus'] as MemoryBus;
    const publish = bus.publish.bind(bus);
    let refused = 0;
    bus.publish = (payload, nodes) =>
      refused++ === 0 ? Promise.reject(new BusUnavailableError('link dropped')) : publish(payload, nodes);
    await s.publisher.publish(message('user:u1'));
    expect(s.publisher.unsentCount).toBe(1);
    await waitFor(() => s.got.other!.length === 1, 'the resend', 5_000);
    expect(s.got).toEqual({ self: [], other: [1], third: [] });
    expect(refused).toBe(2);
    expect(s.busPublishes).toEqual([['other']]); // the resend (the refused attempt never reached the bus)
  });

  it('when a batch is published, then each route lookup is issued right after its own append, in the same turn', async () => {
    const calls: string[] = [];
    const inner = new MemoryHistory(retentionResolver(defaultHistory()));
    const history: History = Object.create(inner) as History;
    history.append = (channel, m, dedupe) => {
      calls.push(`append ${channel}`);
      return inner.append(channel, m, dedupe);
    };
    const s = await setup((presence) => {
      const router = new PresenceRouter(presence);
      return {
        nodesFor: (channel, routeUser, stored) => {
          calls.push(`route ${channel}`);
          return router.nodesFor(channel, routeUser, stored);
        },
      };
    }, history);
    await s.presence.add('u1', 'c1', 'other');
    await s.publisher.publishMany([message('user:u1'), message('promotions'), message('user:u1')]);
    expect(calls).toEqual([
      'append user:u1',
      'route user:u1',
      'append promotions',
      'route promotions',
      'append user:u1',
      'route user:u1',
    ]);
    await drained();
    expect(s.got).toEqual({ self: [1], other: [1, 1, 2], third: [1] });
  });

  it('when presence does not run calls in call order (Redis Cluster), then the lookup is sent only once the append is answered', async () => {
    const calls: string[] = [];
    let answer: (() => void) | undefined;
    const inner = new MemoryHistory(retentionResolver(defaultHistory()));
    const history: History = Object.create(inner) as History;
    history.append = async (channel, m, dedupe) => {
      calls.push('append sent');
      await new Promise<void>((resolve) => (answer = resolve));
      calls.push('append answered');
      return inner.append(channel, m, dedupe);
    };
    const s = await setup((presence) => {
      Object.defineProperty(presence, 'inCallOrder', { value: false });
      const nodesOf = presence.nodesOf.bind(presence);
      presence.nodesOf = (user) => {
        calls.push('lookup sent');
        return nodesOf(user);
      };
      return new PresenceRouter(presence);
    }, history);
    await s.presence.add('u1', 'c1', 'other');
    const publishing = s.publisher.publish(message('user:u1'));
    await drained();
    expect(calls).toEqual(['append sent']);
    answer!();
    await publishing;
    expect(calls).toEqual(['append sent', 'append answered', 'lookup sent']);
    await drained();
    expect(s.got).toEqual({ self: [], other: [1], third: [] });
    expect(s.routes).toEqual(['targeted']);
  });
});
