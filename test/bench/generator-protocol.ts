/** Messages between the orchestrator (run.ts) and the load generator process, over the IPC channel. */

/**
 * Sent in `hello`; the orchestrator refuses a generator speaking another version (e.g. an older
 * load-generator.ts on disk for a moment while someone switches branches or stashes).
 */
export const GENERATOR_PROTOCOL = 3;

export type SystemName = 'herald' | 'socketio';

/** Which deliveries a phase expects, and which of them are timed (publish call → client receive). */
export interface Expectation {
  phase: string;
  /** Promotions every client must receive. */
  promotions: number;
  /** Client indexes of the user-targeted events, one entry per event (a client may appear twice). */
  userTargets: number[];
  /** Record the latency of every promotion, or of every user event, or of none. */
  timed: 'none' | 'promotions' | 'user';
}

export type Command =
  | { kind: 'connect'; system: SystemName; urls: string[]; clients: number; handshakes: number }
  | ({ kind: 'arm' } & Expectation)
  | { kind: 'progress'; final: boolean }
  | { kind: 'counters' }
  | { kind: 'storm'; deadUrl: string; liveUrls: string[] }
  | { kind: 'close-all' };

/** Percentiles the latency curves are reported at (and the SVG chart draws). */
export const CURVE_PERCENTILES = [
  0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97.5, 99, 99.5, 99.75, 99.9, 99.95, 99.99, 100,
] as const;

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Latency (ms) at each of CURVE_PERCENTILES. */
  curve: number[];
}

export interface Progress {
  phase: string;
  /** Expected deliveries that arrived, and how many were expected. */
  arrived: number;
  expected: number;
  /** Clients that got fewer promotions than expected, and the shortfall summed over clients. */
  clientsShort: number;
  missing: number;
  /** Deliveries over what was expected (a client got a promotion or event more often). */
  extra: number;
  /** The first few clients short: "bench-12: promotions 3/4, user 0/1". */
  shortSamples: string[];
  latency?: LatencySummary;
}

export interface Counters {
  /** Clients asked to move (Herald `reconnect` frames). */
  moved: number;
  /** Connections closed by the other side (any close the generator did not initiate). */
  closed: number;
  closeCodes: Record<string, number>;
  /** Handshakes that failed and were retried. */
  handshakeFailures: number;
  /** Herald: resumes answered with an error (the client subscribed itself instead). */
  resumeFallbacks: number;
  /** Herald: message frames dropped as already seen (same channel and offset). */
  duplicates: number;
  /** Herald: message frames that came after a higher offset of their channel (counted, not lost). */
  outOfOrder: number;
  /** Herald `error` frames after the handshake, Socket.IO disconnect packets; the first few texts. */
  errors: number;
  errorSamples: string[];
  /** Clients connected and ready now. */
  ready: number;
}

export type Event =
  | { kind: 'hello'; version?: number }
  | { kind: 'reply'; re: number; body: unknown }
  /** Every expected delivery of the armed phase arrived; `at` is the last one's receive time. */
  | { kind: 'done'; phase: string; at: number }
  | { kind: 'storm-done'; at: number; clients: number }
  | { kind: 'error'; message: string };

export type Envelope = { id: number; command: Command };
