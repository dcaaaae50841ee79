import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pickNode, webSocketUrl } from '../../../services/node/director.js';
import {
  changingFast,
  clusterView,
  excessConnections,
  ShedPolicy,
  type Verdict,
} from '../../../services/node/rebalancer.js';
import { nextTick, RegistryHeartbeat } from '../../../services/node/registry-heartbeat.js';
import { ReconnectTargets } from '../../../services/node/reconnect-targets.js';
import type { NodeRecord, NodeRegistry } from '../../../shared/state/node-registry.js';

const node = (id: string, connections: number, extra: Partial<NodeRecord> = {}): NodeRecord => ({
  id,
  url: `http://10.0.0.${id.length}:8080`,
  connections,
  capacity: 1,
  draining: false,
  startedAt: 0,
  lastHeartbeat: 0,
  ...extra,
});

describe('director: pickNode', () => {
  it('when nodes differ in load, then the least loaded by connections / capacity is chosen', () => {
    expect(pickNode([node('a', 10), node('b', 4), node('c', 7)])?.id).toBe('b');
    expect(pickNode([node('a', 10, { capacity: 4 }), node('b', 4)])?.id).toBe('a');
  });

  it('when the least loaded node is draining or excluded, then it is never chosen', () => {
    expect(pickNode([node('a', 10), node('b', 0, { draining: true })])?.id).toBe('a');
    expect(pickNode([node('a', 10), node('b', 0)], 'b')?.id).toBe('a');
    expect(pickNode([node('b', 0, { draining: true })])).toBeUndefined();
    expect(pickNode([])).toBeUndefined();
  });

  it('when loads tie, then the lower id wins (stable answers)', () => {
    expect(pickNode([node('c', 1), node('a', 1), node('b', 1)])?.id).toBe('a');
  });

  it('when a public URL is http or https, then the WebSocket URL is ws or wss with /ws', () => {
    expect(webSocketUrl('http://10.0.0.5:8080')).toBe('ws://10.0.0.5:8080/ws');
    expect(webSocketUrl('https://push.example.com/')).toBe('wss://push.example.com/ws');
  });
});

describe('rebalancing: clusterView and excessConnections', () => {
  const excess = (self: string, nodes: NodeRecord[], margin = 10): number => {
    const view = clusterView(self, nodes);
    return view === undefined ? 0 : excessConnections(view, margin);
  };

  it('when a node holds more than its share plus the margin, then it sheds down to its share', () => {
    // 300 + 300 + 0 → share 200 each; 300 > 220.
    expect(excess('a', [node('a', 300), node('b', 300), node('c', 0)])).toBe(100);
  });

  it('when a node is within the margin or below its share, then it sheds nothing', () => {
    expect(excess('a', [node('a', 215), node('b', 200), node('c', 185)])).toBe(0);
    expect(excess('a', [node('a', 100), node('b', 300)])).toBe(0);
  });

  it('when the node is alone, unregistered, draining, or the others are draining, then there is nothing to compare', () => {
    expect(clusterView('a', [node('a', 500)])).toBeUndefined();
    expect(clusterView('a', [node('b', 0)])).toBeUndefined();
    expect(clusterView('a', [node('a', 500, { draining: true }), node('b', 0)])).toBeUndefined();
    expect(clusterView('a', [node('a', 500), node('b', 0, { draining: true })])).toBeUndefined();
  });

  it('when capacities differ, then shares follow them (each node as registered)', () => {
    // Capacity 1 vs 3: share of a = 400 / 4 = 100.
    expect(excess('a', [node('a', 200), node('b', 200, { capacity: 3 })])).toBe(100);
    expect(excess('b', [node('a', 200), node('b', 200, { capacity: 3 })])).toBe(0);
  });

  it('when the total moves by more than half the margin of the larger total, then it is changing fast', () => {
    expect(changingFast(10_000, 10_500, 10)).toBe(false); // 500 ≤ 525 (5 % of 10,500)
    expect(changingFast(10_000, 10_600, 10)).toBe(true); // 600 > 530
    expect(changingFast(10_600, 10_000, 10)).toBe(true); // shrinking counts the same
    expect(changingFast(0, 1, 10)).toBe(true);
    expect(changingFast(0, 0, 10)).toBe(false);
  });
});

/** The registry as one read returns it: `counts` by node id, in order a, b, c… */
const entries = (...counts: number[]): NodeRecord[] =>
  counts.map((c, i) => node(String.fromCharCode(97 + i), c));

/** Feeds `rounds` (registry counts; live = the registered own count unless given) to a fresh policy. */
function run(self: string, rounds: { counts: number[]; live?: number }[], margin = 10): Verdict[] {
  const policy = new ShedPolicy(self, margin);
  return rounds.map(({ counts, live }) => {
    const nodes = entries(...counts);
    return policy.next(nodes, live ?? nodes.find((n) => n.id === self)!.connections);
  });
}

/**
 * Two nodes a and b take `clients` round-robin at `perSecond`; each heartbeats its count at every
 * multiple of `heartbeatMs`; each runs a round every `intervalMs` (b half an interval after a) that
 * reads the registry and its live count. With `lagging`, every read finds b's entry one tick older
 * than a's (a read landing while a tick is being written). Returns every verdict of both nodes.
 */
function simulateRamp(o: {
  clients: number;
  perSecond: number;
  heartbeatMs: number;
  intervalMs: number;
  lagging?: boolean;
}): { a: Verdict[]; b: Verdict[] } {
  const arrived = (t: number) => Math.min(o.clients, Math.floor((t * o.perSecond) / 1000));
  const live = (id: 'a' | 'b', t: number) =>
    id === 'a' ? Math.ceil(arrived(t) / 2) : Math.floor(arrived(t) / 2);
  const tick = (t: number) => Math.floor(t / o.heartbeatMs) * o.heartbeatMs;
  const read = (t: number): NodeRecord[] => [
    node('a', live('a', tick(t))),
    node('b', live('b', Math.max(0, tick(t) - (o.lagging ? o.heartbeatMs : 0)))),
  ];
  const policies = { a: new ShedPolicy('a', 10), b: new ShedPolicy('b', 10) };
  const verdicts: { a: Verdict[]; b: Verdict[] } = { a: [], b: [] };
  const end = (o.clients / o.perSecond) * 1000 + 6 * o.intervalMs;
  for (let t = o.intervalMs; t <= end; t += o.intervalMs) {
    verdicts.a.push(policies.a.next(read(t), live('a', t)));
    const tb = t + o.intervalMs / 2;
    verdicts.b.push(policies.b.next(read(tb), live('b', tb)));
  }
  return verdicts;
}

const outcomes = (verdicts: Verdict[]) => verdicts.map((v) => v.outcome);

describe('rebalancing: ShedPolicy', () => {
  it('when 10,000 clients ramp up round-robin onto two balanced nodes at default settings, then nobody is moved', () => {
    for (const perSecond of [200, 950, 5_000]) {
      const { a, b } = simulateRamp({ clients: 10_000, perSecond, heartbeatMs: 2_000, intervalMs: 5_000 });
      expect([...a, ...b].filter((v) => v.outcome === 'shed')).toEqual([]);
      expect(a.at(-1)?.outcome).toBe('balanced');
    }
  });

  it('when every read finds one node a heartbeat behind during the ramp, then the fast-changing total holds rebalancing off', () => {
    const { a, b } = simulateRamp({
      clients: 10_000,
      perSecond: 950,
      heartbeatMs: 2_000,
      intervalMs: 5_000,
      lagging: true,
    });
    // a looks 475 above its share in its first two rounds (2,850 then 8,550 registered), but the total
    // moves fast between them, and again up to 10,000; once it is steady, every read agrees.
    expect(outcomes(a).slice(0, 4)).toEqual(['pending', 'changing', 'changing', 'balanced']);
    expect([...a, ...b].filter((v) => v.outcome === 'shed')).toEqual([]);
  });

  it('when a node joins two full ones, then the excess seen in two consecutive rounds is shed, from the latest counts', () => {
    const verdicts = run('a', [
      { counts: [300, 300] },
      { counts: [300, 300, 0] }, // c joined: share 200
      { counts: [300, 300, 0] },
      { counts: [300, 300, 0] }, // counts not yet refreshed after the move: start over
      { counts: [200, 200, 200] },
    ]);
    expect(verdicts).toEqual([
      { outcome: 'balanced' },
      { outcome: 'pending' },
      { outcome: 'shed', count: 100, share: 200 },
      { outcome: 'pending' },
      { outcome: 'balanced' },
    ]);
  });

  it('when the excess shrinks between the rounds, or the live count has dropped, then only what is left is shed', () => {
    expect(run('a', [{ counts: [1_500, 1_000] }, { counts: [1_400, 1_100] }]).at(-1)).toEqual({
      outcome: 'shed',
      count: 150,
      share: 1_250,
    });
    expect(run('a', [{ counts: [1_500, 1_000] }, { counts: [1_400, 1_100], live: 1_300 }]).at(-1)).toEqual({
      outcome: 'shed',
      count: 50,
      share: 1_250,
    });
    expect(run('a', [{ counts: [1_500, 1_000] }, { counts: [1_400, 1_100], live: 1_200 }]).at(-1)).toEqual({
      outcome: 'balanced',
    });
  });

  it('when an excess shows in one round only, then nobody is moved', () => {
    const verdicts = run('a', [
      { counts: [1_000, 1_000] },
      { counts: [1_200, 900] },
      { counts: [1_000, 1_100] },
    ]);
    expect(outcomes(verdicts)).toEqual(['balanced', 'pending', 'balanced']);
  });

  it('when a burst of reconnects lands after a node died, then rebalancing holds off until the total is steady, and sheds only an excess that remains', () => {
    const died = [
      { counts: [1_000, 1_000, 1_000] },
      { counts: [1_000, 1_000] }, // c gone from the registry: the total drops by a third
      { counts: [1_500, 1_300] }, // its clients reconnecting
    ];
    // Spread evenly: held off while the total changes, then steady and balanced: nobody moved.
    expect(outcomes(run('a', [...died, { counts: [1_550, 1_450] }, { counts: [1_550, 1_450] }]))).toEqual([
      'balanced',
      'changing',
      'changing',
      'changing', // 2,800 → 3,000: 200 > 150
      'balanced',
    ]);
    // Spread unevenly: held off while the total changes, shed once two calm rounds still show it.
    expect(run('a', [...died, { counts: [1_800, 1_200] }, { counts: [1_800, 1_200] }])).toEqual([
      { outcome: 'balanced' },
      { outcome: 'changing' },
      { outcome: 'changing' },
      { outcome: 'changing' }, // 2,800 → 3,000: 200 > 150
      { outcome: 'shed', count: 300, share: 1_500 },
    ]);
  });

  it('when the total keeps changing fast, then an excess in every round is never shed; changing slowly, it is', () => {
    const growing = (perRound: number) =>
      Array.from({ length: 8 }, (_, k) => {
        const total = 10_000 * (1 + perRound) ** k;
        return { counts: [Math.round(total * 0.6), Math.round(total * 0.4)] }; // a 20 % above its share
      });
    expect(outcomes(run('a', growing(0.06)))).toEqual(['pending', ...Array<string>(7).fill('changing')]);
    expect(outcomes(run('a', growing(0.04))).slice(0, 2)).toEqual(['pending', 'shed']);
  });

  it('when this node has no registry entry yet or is alone, then it compares nothing and starts over', () => {
    const policy = new ShedPolicy('a', 10);
    expect(policy.next(entries(900, 100), 900).outcome).toBe('pending');
    expect(policy.next([node('b', 100)], 900).outcome).toBe('alone');
    expect(policy.next(entries(900, 100), 900).outcome).toBe('pending');
    expect(policy.next(entries(900, 100), 900)).toEqual({ outcome: 'shed', count: 400, share: 500 });
  });
});

describe('registry heartbeat: aligned ticks', () => {
  afterEach(() => vi.useRealTimers());

  it('when nodes start at different moments, then each heartbeats at the same multiples of NODE_HEARTBEAT_MS', async () => {
    vi.useFakeTimers({ now: 1_000_123 });
    const beats: Record<string, number[]> = { a: [], b: [] };
    const reg = (id: string): NodeRegistry => ({
      heartbeat: () => {
        beats[id]!.push(Date.now());
        return Promise.resolve();
      },
      list: () => Promise.resolve([]),
      remove: () => Promise.resolve(),
      close: () => Promise.resolve(),
    });
    const log = pino({ level: 'silent' });
    const announce = (id: string) => () => ({
      id,
      url: '',
      connections: 0,
      capacity: 1,
      draining: false,
      startedAt: 0,
    });
    const a = new RegistryHeartbeat(reg('a'), announce('a'), { heartbeatMs: 2_000, ttlSeconds: 10 }, log);
    await a.start();
    await vi.advanceTimersByTimeAsync(777);
    const b = new RegistryHeartbeat(reg('b'), announce('b'), { heartbeatMs: 2_000, ttlSeconds: 10 }, log);
    await b.start();
    await vi.advanceTimersByTimeAsync(7_000);
    await a.stop('a');
    await b.stop('b');
    await vi.advanceTimersByTimeAsync(4_000);
    // One beat at start each, then the same ticks: 1,002,000, 1,004,000, 1,006,000 (b from its first tick on).
    expect(beats.a).toEqual([1_000_123, 1_002_000, 1_004_000, 1_006_000]);
    expect(beats.b).toEqual([1_000_900, 1_002_000, 1_004_000, 1_006_000]);
    expect(nextTick(1_002_000, 2_000)).toBe(1_004_000);
  });
});

describe('reconnect targets', () => {
  const registry = (nodes: NodeRecord[]): NodeRegistry => ({
    heartbeat: () => Promise.resolve(),
    list: () => Promise.resolve(nodes.map((n) => ({ ...n }))),
    remove: () => Promise.resolve(),
    close: () => Promise.resolve(),
  });

  it('when RECONNECT_URL is unset or fixed, then frames carry no url or that url', async () => {
    expect(await new ReconnectTargets({ kind: 'usual' }, registry([]), 'a').next()).toBeUndefined();
    const fixed = new ReconnectTargets({ kind: 'fixed', url: 'wss://lb/ws' }, registry([]), 'a');
    expect(await fixed.next()).toBe('wss://lb/ws');
  });

  it('when RECONNECT_URL is director, then a burst of moves spreads over the other nodes by load', async () => {
    const targets = new ReconnectTargets(
      { kind: 'director' },
      registry([node('self', 50), node('bb', 10), node('ccc', 12), node('dddd', 0, { draining: true })]),
      'self',
    );
    const picks: (string | undefined)[] = [];
    for (let i = 0; i < 6; i++) picks.push(await targets.next());
    const count = (url: string) => picks.filter((p) => p === url).length;
    // bb takes 2 + 2, ccc 2: bb 10→14, ccc 12→14 — the draining node and self are never chosen.
    expect(count('ws://10.0.0.2:8080/ws')).toBe(4);
    expect(count('ws://10.0.0.3:8080/ws')).toBe(2);
  });
});
