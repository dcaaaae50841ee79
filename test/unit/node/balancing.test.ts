import { describe, expect, it } from 'vitest';
import { pickNode, webSocketUrl } from '../../../services/node/director.js';
import { excessConnections } from '../../../services/node/rebalancer.js';
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

describe('rebalancing: excessConnections', () => {
  it('when a node holds more than its share plus the margin, then it sheds down to its share', () => {
    // 300 + 300 + 0 → share 200 each; 300 > 220.
    expect(excessConnections('a', 300, 1, [node('a', 290), node('b', 300), node('c', 0)], 10)).toBe(100);
  });

  it('when a node is within the margin or below its share, then it sheds nothing', () => {
    expect(excessConnections('a', 215, 1, [node('b', 200), node('c', 185)], 10)).toBe(0);
    expect(excessConnections('a', 100, 1, [node('b', 300)], 10)).toBe(0);
  });

  it('when the node is alone, or the others are draining, then nobody is moved', () => {
    expect(excessConnections('a', 500, 1, [node('a', 500)], 10)).toBe(0);
    expect(excessConnections('a', 500, 1, [node('b', 0, { draining: true })], 10)).toBe(0);
  });

  it('when capacities differ, then shares follow them', () => {
    // Capacity 1 vs 3: share of a = 400 / 4 = 100.
    expect(excessConnections('a', 200, 1, [node('b', 200, { capacity: 3 })], 10)).toBe(100);
    expect(excessConnections('b', 200, 3, [node('a', 200)], 10)).toBe(0);
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
