/** Command counts from Redis `INFO commandstats` (the benchmarks' view of what a phase cost Redis). */

/** Calls so far per command, from an INFO reply holding the `commandstats` section. */
export function commandCalls(info: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(m[1]!, Number(m[2]));
  return calls;
}

/** The calls of each command between two readings of `commandCalls`; commands not called are left out. */
export function callsSince(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [name, n] of after) {
    const d = n - (before.get(name) ?? 0);
    if (d > 0) delta.set(name, d);
  }
  return delta;
}
