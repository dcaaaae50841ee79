/** What one system measured in one round (the JSON keeps these as they are). */
import type { Counters, LatencySummary, SystemName } from './generator-protocol.js';

export interface DeliveryResult {
  messages: number;
  deliveries: number;
  /** First publish to the last delivery. */
  seconds: number;
  deliveriesPerSecond: number;
  /** Both nodes' CPU (utime + stime) over those seconds, per 1,000 deliveries. */
  nodeCpuMsPer1000: number;
  /** The load generator's CPU per 1,000 deliveries, and its share of one core over the phase. */
  generatorCpuMsPer1000: number;
  generatorCorePercent: number;
  /** The machine's Redis + RabbitMQ CPU per 1,000 deliveries (shared services: indicative only). */
  infraCpuMsPer1000: number;
  /** The publisher's (the orchestrator process: HTTP client or Socket.IO emitter) share of one core. */
  publisherCorePercent: number;
  /** Deliveries over the expected count (a client got a message twice); 0 expected. */
  extra: number;
  /** Herald: message frames that came after a higher offset of their channel, and repeats dropped. */
  outOfOrder: number;
  duplicates: number;
}

export interface LatencyResult extends DeliveryResult {
  latency: LatencySummary;
  /** Max event-loop delay over the phase, the larger of the two nodes. */
  lagMaxMs: number;
}

/** Scenario 8 also says how late an idle probe process's timer fired over the phase (machine.ts). */
export interface UserTargetedResult extends LatencyResult {
  machineWake: LatencySummary;
}

export interface WrkResult {
  connections: number;
  seconds: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
  messagesPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  nodeCorePercent: number;
}

export interface StormResult {
  /** Clients of the killed node, all reconnected to the survivor. */
  clients: number;
  /** SIGKILL to the last client ready again. */
  seconds: number;
  survivorLagMaxMs: number;
  survivorCpuMs: number;
  /** Herald: resumes refused (the client subscribed itself instead). */
  resumeFallbacks: number;
  /** A promotion sent after the storm reached every client. */
  afterStormDelivered: number;
}

export interface RunResult {
  system: SystemName;
  round: number;
  /** Position in the round (1 = ran first). */
  order: number;
  clients: number;
  /**
   * Per client, from the first handshake to the last client ready: both nodes' CPU, the load
   * generator's (tokens are minted before), and Redis + RabbitMQ's (shared services: informational).
   */
  connect: {
    seconds: number;
    handshakeFailures: number;
    nodeCpuMsPerConnect: number;
    generatorCpuMsPerConnect: number;
    infraCpuMsPerConnect: number;
  };
  memory: { rssBeforeKib: number[]; rssAfterKib: number[]; perConnectionKib: number };
  /** Moves and closes while connecting and during the watch window after. */
  churn: { moved: number; closed: number; closeCodes: Record<string, number>; watchMs: number };
  broadcastOneAtATime: DeliveryResult;
  broadcastInFlight: DeliveryResult;
  broadcastBatch: DeliveryResult | undefined;
  paced: LatencyResult;
  userTargeted: UserTargetedResult;
  /** Herald: wrk to users connected nowhere (stored only). */
  wrk: WrkResult | undefined;
  /** Herald: wrk to the connected bench clients' user channels (stored and delivered). */
  wrkOnline?: WrkResult | undefined;
  storm: StormResult | undefined;
  /** The generator's counters at the end of the run (moves, closes, duplicates, errors). */
  counters: Counters;
}
