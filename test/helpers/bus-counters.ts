/** A node process's bus counters from /metrics: payloads it took from the bus, its publishes by route. */
import type { NodeProcess } from './node-process.js';

export interface BusCounters {
  received: number;
  local: number;
  targeted: number;
  broadcast: number;
}

export async function busCounters(node: NodeProcess): Promise<BusCounters> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const value = (pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    received: value(/^herald_bus_messages_received_total (\d+)/m),
    local: value(/^herald_publish_routes_total\{route="local"\} (\d+)/m),
    targeted: value(/^herald_publish_routes_total\{route="targeted"\} (\d+)/m),
    broadcast: value(/^herald_publish_routes_total\{route="broadcast"\} (\d+)/m),
  };
}

/** What happened between two readings of one node. */
export const countersSince = (before: BusCounters, after: BusCounters): BusCounters => ({
  received: after.received - before.received,
  local: after.local - before.local,
  targeted: after.targeted - before.targeted,
  broadcast: after.broadcast - before.broadcast,
});
