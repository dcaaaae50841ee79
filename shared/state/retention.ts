import type { Config } from '../config/config.js';
import { channelKind, CLUSTER_CHANNEL } from '../protocol/channels.js';
import type { RetentionResolver } from './history.js';

/**
 * Messages kept of the `cluster` channel (node stats): enough for a console that reconnects within a
 * few intervals, no more. Its age is the promotions one, since the fan-out holds it as a promotions
 * channel (channels.ts, ChannelKind) and must not outlive what the store keeps.
 */
export const CLUSTER_HISTORY_MESSAGES = 100;

/**
 * Retention by channel kind (channels.ts, channelKind): `user:` and `order:` keep the user settings,
 * promotions and segments their own, `cluster` (a promotions kind) a few messages for the promotions age.
 */
export function retentionResolver(history: Config['history']): RetentionResolver {
  const cluster = { maxMessages: CLUSTER_HISTORY_MESSAGES, maxAgeMs: history.promotions.maxAgeMs };
  return (channel) => {
    if (channel === CLUSTER_CHANNEL) return cluster;
    const kind = channelKind(channel);
    return kind === 'user' || kind === 'order' ? history.user : history.promotions;
  };
}
