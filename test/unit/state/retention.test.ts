import { describe, expect, it } from 'vitest';
import { CLUSTER_HISTORY_MESSAGES, retentionResolver } from '../../../shared/state/retention.js';

const history = {
  user: { maxMessages: 100, maxAgeMs: 60_000 },
  promotions: { maxMessages: 20, maxAgeMs: 5_000 },
  replayLimit: 1_000,
};

describe('retentionResolver', () => {
  const retention = retentionResolver(history);

  it('keeps user and order channels by the user settings', () => {
    expect(retention('user:42')).toBe(history.user);
    expect(retention('order:o-1')).toBe(history.user);
  });

  it('keeps promotions and segments by the promotions settings', () => {
    expect(retention('promotions')).toBe(history.promotions);
    expect(retention('promotions:vip')).toBe(history.promotions);
  });

  it('keeps a few messages of the cluster channel, for the promotions age', () => {
    expect(retention('cluster')).toEqual({
      maxMessages: CLUSTER_HISTORY_MESSAGES,
      maxAgeMs: history.promotions.maxAgeMs,
    });
  });
});
