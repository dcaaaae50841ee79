import type { Config } from '../config/config.js';
import type { RetentionResolver } from './history.js';

/** Retention by channel kind: `user:` and `order:` keep the user settings, `promotions*` their own. */
export function retentionResolver(history: Config['history']): RetentionResolver {
  return (channel) => (channel.startsWith('promotions') ? history.promotions : history.user);
}
