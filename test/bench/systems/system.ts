/** What a scenario needs from a system under test (Herald or Socket.IO): two nodes and a publisher. */
import type { SystemName } from '../generator-protocol.js';

export interface System {
  readonly name: SystemName;
  readonly label: string;
  /** The nodes' WebSocket base URLs, in node order (what the load generator connects to). */
  readonly wsUrls: string[];
  /** The nodes' process ids, in node order. */
  readonly pids: number[];
  /** Publishes one promotion to `promotions` (one request); resolves once the system accepted it. */
  broadcast(data: object): Promise<void>;
  /** Publishes several promotions in one request, or undefined when the system has no batch publish. */
  readonly broadcastBatch: ((data: object[]) => Promise<void>) | undefined;
  /** Publishes one event to the room/channel of `user`. */
  toUser(user: string, data: object): Promise<void>;
  /** Opens the publisher's connections (no client receives anything), so no measured request pays for them. */
  warmUp(inFlight: number): Promise<void>;
  /** Max event-loop delay of node `i` since the previous call, in ms (the node resets it when read). */
  lagMaxMs(i: number): Promise<number>;
  /** SIGKILLs node `i` (the reconnect storm); publishing then uses the other nodes. */
  kill(i: number): void;
  /** Stops the nodes gracefully and waits for them to exit (Herald: --cpu-prof profiles get written). */
  stopGracefully(): Promise<void>;
  /** Kills the nodes and deletes everything the system left in Redis and RabbitMQ. */
  stop(): Promise<void>;
}
