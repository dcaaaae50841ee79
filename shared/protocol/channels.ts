/**
 * Channel names and their shapes. A channel is one of exactly five shapes (docs/protocol.md §4):
 *
 *   user:{userId}          everything addressed to one user
 *   order:{orderId}        events of one order
 *   promotions             broadcast promotions
 *   promotions:{segment}   promotions for one segment
 *   cluster                every node's live stats, for operators (the dashboard); only nodes publish it
 *
 * Anything else is `unknown_channel`. Ids are 1–128 characters of [A-Za-z0-9._@|=+-]; segments are
 * 1–64 characters of [A-Za-z0-9._-].
 */

export const ID_PATTERN = '^[A-Za-z0-9._@|=+-]{1,128}$';
export const SEGMENT_PATTERN = '^[A-Za-z0-9._-]{1,64}$';
export const EVENT_PATTERN = '^[A-Za-z0-9._:-]{1,64}$';
/** The channels the REST API publishes to and reads: every shape but `cluster`, which only nodes write. */
export const CHANNEL_PATTERN =
  '^(user:[A-Za-z0-9._@|=+-]{1,128}|order:[A-Za-z0-9._@|=+-]{1,128}|promotions|promotions:[A-Za-z0-9._-]{1,64})$';

const idRe = new RegExp(ID_PATTERN);
const segmentRe = new RegExp(SEGMENT_PATTERN);

export type ChannelRef =
  | { kind: 'user'; userId: string }
  | { kind: 'order'; orderId: string }
  | { kind: 'promotions' }
  | { kind: 'segment'; segment: string }
  | { kind: 'cluster' };

/** Which of the five shapes a channel has (what parseChannel names `kind`). */
export type ChannelShape = ChannelRef['kind'];

/**
 * A channel's kind: how it travels (the fan-out's per-kind write delay and retention age) and the
 * value of the metrics' `kind` label. Every shape is a kind of its own but `cluster` (CHANNEL_KINDS).
 */
export type ChannelKind = 'user' | 'order' | 'promotions' | 'segment';

/**
 * The one table of kinds: the kind each shape travels as. `cluster` travels as `promotions`: like a
 * promotion it is a broadcast from every node to every node's subscribers, it takes the promotions
 * write delay and retention age, and its deliveries are counted under kind="promotions" (see
 * docs/operations.md §6 on what that means for the metrics).
 */
export const CHANNEL_KINDS: Readonly<Record<ChannelShape, ChannelKind>> = {
  user: 'user',
  order: 'order',
  promotions: 'promotions',
  segment: 'segment',
  cluster: 'promotions',
};

/** The operators' channel: each node's stats, every CLUSTER_STATS_INTERVAL_MS. */
export const CLUSTER_CHANNEL = 'cluster';

/** Parses a channel name; `undefined` when it has none of the five shapes. */
export function parseChannel(name: string): ChannelRef | undefined {
  if (name === 'promotions') return { kind: 'promotions' };
  if (name === CLUSTER_CHANNEL) return { kind: 'cluster' };
  const colon = name.indexOf(':');
  if (colon < 0) return undefined;
  const prefix = name.slice(0, colon);
  const rest = name.slice(colon + 1);
  switch (prefix) {
    case 'user':
      return idRe.test(rest) ? { kind: 'user', userId: rest } : undefined;
    case 'order':
      return idRe.test(rest) ? { kind: 'order', orderId: rest } : undefined;
    case 'promotions':
      return segmentRe.test(rest) ? { kind: 'segment', segment: rest } : undefined;
    default:
      return undefined;
  }
}

/**
 * The kind of a channel name already known to be valid (parseChannel accepted it), without parsing
 * it: the hot paths (a fan-out channel's creation, publish metrics) call it. A valid name's shape shows
 * in its first character (`u`ser, `o`rder, `c`luster, else `p`romotions), and a `p` name is
 * `promotions` itself (10 characters) or `promotions:{segment}` (longer); the kind is that shape's
 * entry in CHANNEL_KINDS.
 */
export function channelKind(channel: string): ChannelKind {
  switch (channel.charCodeAt(0)) {
    case 117 /* u */:
      return CHANNEL_KINDS.user;
    case 111 /* o */:
      return CHANNEL_KINDS.order;
    case 99 /* c */:
      return CHANNEL_KINDS.cluster;
    default:
      return channel.length === 10 ? CHANNEL_KINDS.promotions : CHANNEL_KINDS.segment;
  }
}

export const userChannel = (userId: string): string => `user:${userId}`;
const USER_PREFIX = 'user:';
/** The user a `user:{id}` channel belongs to; undefined for any other channel. No parse: per publish. */
export const userOfChannel = (channel: string): string | undefined =>
  channel.startsWith(USER_PREFIX) ? channel.slice(USER_PREFIX.length) : undefined;
export const orderChannel = (orderId: string): string => `order:${orderId}`;
export const promotionsChannel = (segment?: string): string =>
  segment === undefined ? 'promotions' : `promotions:${segment}`;
export const isValidId = (id: string): boolean => idRe.test(id);
export const isValidSegment = (segment: string): boolean => segmentRe.test(segment);

/**
 * `names` as strings of their own, for channel names cut out of a URL that a connection keeps for its
 * life. In V8 a piece of 13 characters or more cut from a longer string (`split`, `slice`, the URL and
 * query-string parsers) is a view that keeps the whole string alive: a `user:` channel named in
 * `/ws?token=…&channels=…` held its connection's entire URL, token included (232 bytes per connection
 * in a heap snapshot of 5,000 bench connections; more with real tokens). JSON text decoding always
 * builds new strings. Names from a JSON frame are already their own.
 */
export const ownStrings = (names: readonly string[]): string[] =>
  JSON.parse(JSON.stringify(names)) as string[];
