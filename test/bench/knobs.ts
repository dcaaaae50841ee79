/**
 * The benchmark's knobs: read from the environment once, here. Defaults are the figures of issue 9
 * (10,000 clients over 2 nodes, 100 promotions, 3 rounds).
 */
const int = (name: string, def: number, min = 1): number => {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? def : Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min} (got ${raw})`);
  return n;
};

export const knobs = {
  /** WebSocket clients, round-robin over the two nodes. */
  clients: int('BENCH_CLIENTS', 10_000),
  /** Rounds; each runs every scenario on both systems, alternating which goes first. */
  rounds: int('BENCH_ROUNDS', 3),
  /** Promotions per broadcast scenario (one at a time, 64 in flight, batch). */
  broadcasts: int('BENCH_BROADCASTS', 100),
  /** Seconds of the paced broadcast, the user-targeted and the wrk scenarios. */
  seconds: int('BENCH_SECONDS', 10),
  /** Handshakes in flight while connecting (and reconnecting), for both systems. */
  handshakes: int('BENCH_HANDSHAKES', 500),
  /** Requests (Herald) or publishes (Socket.IO) in flight in the "64 in flight" scenario. */
  inFlight: int('BENCH_IN_FLIGHT', 64),
  /** Messages per request in the batch scenario (Herald only). */
  batch: int('BENCH_BATCH', 50),
  /** Paced broadcast rate (promotions per second) and user-targeted rate (events per second). */
  pacedRate: int('BENCH_PACED_RATE', 20),
  userRate: int('BENCH_USER_RATE', 1000),
  /**
   * Seconds of unmeasured user-targeted events (same rate, random users) before the measured ones,
   * both systems: the latencies are those of a running cluster, not of code that has just started to
   * be compiled for that path (see docs/benchmark.md, scenario 8).
   */
  userWarmupSeconds: int('BENCH_USER_WARMUP_SECONDS', 2, 0),
  /** wrk connections and duration (seconds). */
  wrkConnections: int('BENCH_WRK_CONNECTIONS', 64),
  /** How long clients are watched for moves and closes after all connected (rebalance interval 5 s). */
  watchMs: int('BENCH_WATCH_MS', 6_000),
  /** Unmeasured promotions sent before the first broadcast scenario (both systems). */
  warmup: int('BENCH_WARMUP', 5, 0),
  /** Fail a phase when no expected delivery arrived for this long. */
  stallMs: int('BENCH_STALL_MS', 20_000),
  /** Herald nodes under --cpu-prof (profiles in test/bench/results/profiles); skips the storm. */
  profile: process.env.BENCH_PROFILE === '1',
  /** A compiled Herald (a directory holding services/main.js) to run instead of a snapshot of dist/. */
  heraldDist: process.env.BENCH_HERALD_DIST ?? '',
  /** The load generator runs with --cpu-prof (profiles in test/bench/results/profiles). */
  profileGenerator: process.env.BENCH_PROFILE_GENERATOR === '1',
  /**
   * How a Herald client subscribes on its first connection: "connect" names its channels in the URL
   * (the server subscribes them with the welcome), "frames" sends `subscribe` frames after the welcome.
   */
  subscribe: (process.env.BENCH_SUBSCRIBE ?? 'connect') as 'connect' | 'frames',
  /** Run only one system: "herald" or "socketio" (default both). */
  only: (process.env.BENCH_ONLY ?? '') as '' | 'herald' | 'socketio',
  /** `npm run bench:connects` only: the systems to run, comma-separated (default all; connects.ts). */
  connectSystems: process.env.BENCH_CONNECT_SYSTEMS ?? '',
};
if (!['', 'herald', 'socketio'].includes(knobs.only))
  throw new Error('BENCH_ONLY must be herald or socketio');
if (!['connect', 'frames'].includes(knobs.subscribe))
  throw new Error('BENCH_SUBSCRIBE must be connect or frames');

export type Knobs = typeof knobs;
