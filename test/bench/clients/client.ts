/** One simulated user of the load generator, its connections, and what the protocols report back. */
import type { Counters } from '../generator-protocol.js';
import type { Tally } from './tally.js';
import type { WireSocket } from './wire.js';

/** The newest message a client got on a channel (Herald: resume and dedupe by position). */
export interface Position {
  offset: number;
  epoch: string | undefined;
  /**
   * Offsets below `offset` not received yet (a message overtook them): they are still new when they
   * come, as for a client that holds messages across a gap (docs/protocol.md, section 12).
   */
  gaps?: Set<number>;
}

export class BenchClient {
  /** The connection in use, once ready (Herald: welcomed and subscribed; Socket.IO: namespace joined). */
  link: Link | undefined;
  /** A Herald `reconnect` frame is being followed (make-before-break). */
  moving = false;
  /** Its node was killed in the reconnect storm and it is not back yet. */
  stormPending = false;
  /** Herald session to resume after a reconnect. */
  session: string | undefined;
  readonly promotions: Position = { offset: 0, epoch: undefined };
  readonly userChannel: Position = { offset: 0, epoch: undefined };

  constructor(
    readonly index: number,
    readonly user: string,
    /** Herald client token (HS256 JWT with `sub` = user); empty for Socket.IO. */
    readonly token: string,
  ) {}
}

export interface Link {
  ws: WireSocket;
  url: string;
  /** The generator closed it (a finished move, a failed handshake): not counted as a close. */
  closedByUs: boolean;
  closed: boolean;
}

/** A wire protocol: opens a connection for a client and reports deliveries and events to the fleet. */
export interface Protocol {
  /** Resolves once the connection is ready; `resume`: restore the client's session (Herald). */
  handshake(client: BenchClient, url: string, mode: 'fresh' | 'resume'): Promise<Link>;
}

/** What a protocol reports to the fleet that owns the clients. */
export interface FleetHooks {
  readonly tally: Tally;
  readonly counters: Counters;
  /** A ready connection was closed by the other side. */
  closed(client: BenchClient, link: Link, code: number): void;
  /** The server asked the client to move (Herald `reconnect`), to `url` if given. */
  moveRequested(client: BenchClient, link: Link, url: string | undefined): void;
  /** Something unexpected arrived (an `error` frame, a disconnect packet). */
  error(text: string): void;
}

export const HANDSHAKE_TIMEOUT_MS = 30_000;
