/**
 * Channel names and their shapes. A channel is one of exactly four shapes (see DESIGN.md):
 *
 *   user:{userId}          everything addressed to one user
 *   order:{orderId}        events of one order
 *   promotions             broadcast promotions
 *   promotions:{segment}   promotions for one segment
 *
 * Anything else is `unknown_channel`. Ids are 1–128 characters of [A-Za-z0-9._@|=+-]; segments are
 * 1–64 characters of [A-Za-z0-9._-].
 */

export const ID_PATTERN = '^[A-Za-z0-9._@|=+-]{1,128}$';
export const SEGMENT_PATTERN = '^[A-Za-z0-9._-]{1,64}$';
export const EVENT_PATTERN = '^[A-Za-z0-9._:-]{1,64}$';
export const CHANNEL_PATTERN =
  '^(user:[A-Za-z0-9._@|=+-]{1,128}|order:[A-Za-z0-9._@|=+-]{1,128}|promotions|promotions:[A-Za-z0-9._-]{1,64})$';

const idRe = new RegExp(ID_PATTERN);
const segmentRe = new RegExp(SEGMENT_PATTERN);

export type ChannelRef =
  | { kind: 'user'; userId: string }
  | { kind: 'order'; orderId: string }
  | { kind: 'promotions' }
  | { kind: 'segment'; segment: string };

export type ChannelKind = ChannelRef['kind'];

/** Parses a channel name; `undefined` when it has none of the four shapes. */
export function parseChannel(name: string): ChannelRef | undefined {
  if (name === 'promotions') return { kind: 'promotions' };
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
 * The kind of a channel name already known to be valid (parseChannel accepted it), from its first
 * characters only: the hot paths (fan-out, publish metrics) classify without parsing.
 */
export function channelKind(channel: string): ChannelKind {
  switch (channel.charCodeAt(0)) {
    case 117 /* u */:
      return 'user';
    case 111 /* o */:
      return 'order';
    default:
      return channel.length === 10 ? 'promotions' : 'segment';
  }
}

export const userChannel = (userId: string): string => `user:${userId}`;
export const orderChannel = (orderId: string): string => `order:${orderId}`;
export const promotionsChannel = (segment?: string): string =>
  segment === undefined ? 'promotions' : `promotions:${segment}`;
export const isValidId = (id: string): boolean => idRe.test(id);
export const isValidSegment = (segment: string): boolean => segmentRe.test(segment);
