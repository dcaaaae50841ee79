/** What every connection of one gateway shares (one object per gateway, never per connection). */
import type { TokenVerifier } from '../../shared/auth/jwt.js';
import type { Config } from '../../shared/config/config.js';
import type { Logger } from '../../shared/logger/logger.js';
import type { Metrics } from '../../shared/metrics/metrics.js';
import type { Deadlines } from '../../shared/scheduling/deadlines.js';
import type { ReadMove } from '../../shared/core/read-signals.js';
import type { StateDrivers } from '../../shared/state/state.js';
import type { PlacesPerAddress } from './admission.js';
import type { ChannelAccess } from './channel-access.js';
import type { ClientConnection } from './client-connection.js';
import type { Fanout } from './fanout/fanout.js';
import type { WriteScheduler } from './fanout/outlet.js';
import type { SubscriptionHost } from './subscriptions.js';

/** What the webhooks learn from connections (services/webhooks/webhooks.ts). */
export interface PresenceWatch {
  connected(userId: string, count: number): void;
  disconnected(userId: string, left: number): void;
}

export interface ConnectionContext {
  nodeId: string;
  limits: Config['ws'];
  sessionTtlSeconds: number;
  verifier: TokenVerifier;
  access: ChannelAccess;
  fanout: Fanout;
  scheduler: WriteScheduler;
  /** Most messages one subscribe may replay from history. */
  replayLimit: number;
  state: StateDrivers;
  metrics: Metrics;
  /** The gateway's logger; per-connection lines carry `conn` (no child logger per connection). */
  log: Logger;
  /**
   * Told of presence changes (WEBHOOK_URL: user.online / user.offline): `count` after a connection
   * joined, `left` after one left, cluster-wide. Undefined without webhooks.
   */
  presenceWatch: PresenceWatch | undefined;
  /** Places of guest connections per client address; undefined when the node takes no guests. */
  guests: PlacesPerAddress | undefined;
  /** Auth timeouts of connections without a token yet, and token expiries of open ones. */
  deadlines: { auth: Deadlines<ClientConnection>; expiry: Deadlines<ClientConnection> };
  /** Called once the connection is authenticated (the gateway indexes it by user). */
  onAuthenticated(connection: ClientConnection): void;
  /** Called once, when an authenticated connection is released (closing or gone). */
  onClosed(connection: ClientConnection): void;
  /** Called once, when the socket of any connection has closed. */
  onGone(connection: ClientConnection): void;
  /** How long a user's read positions are kept after its last ack (READ_POSITION_TTL_SECONDS). */
  readPositionTtlSeconds: number;
  /**
   * An ack moved a user's read position: the user's other connections subscribed to the channel,
   * on this node and the others, get a `read` frame (`from` answered its own ack already).
   */
  readMoved(from: SubscriptionHost, move: ReadMove): void;
  /**
   * Optional hook, called once per ack that moved a user's read position (e.g. the `message.read`
   * webhook); set through GatewayOptions.onRead. Must not throw.
   */
  onRead?(userId: string, channel: string, offset: number): void;
}
