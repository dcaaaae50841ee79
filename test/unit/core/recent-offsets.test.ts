import { describe, expect, it } from 'vitest';
import { RECENT_OFFSETS_WINDOW, RecentOffsets } from '../../../shared/core/recent-offsets.js';

describe('RecentOffsets', () => {
  it('when offsets arrive in order, then each is a first sight and a repeat is not', () => {
    const recent = new RecentOffsets();
    for (let o = 1; o <= 10; o++) expect(recent.firstSight('e', o)).toBe(true);
    expect(recent.firstSight('e', 10)).toBe(false);
    expect(recent.firstSight('e', 3)).toBe(false);
  });

  it('when offsets arrive out of order within the window, then each is delivered once', () => {
    const recent = new RecentOffsets();
    const order = [1, 3, 2, 6, 4, 5, 5, 3, 7];
    expect(order.map((o) => recent.firstSight('e', o))).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      true,
    ]);
  });

  it('when the highest offset jumps ahead, then the skipped offsets are still first sights later', () => {
    const recent = new RecentOffsets();
    expect(recent.firstSight('e', 1)).toBe(true);
    expect(recent.firstSight('e', 100)).toBe(true);
    expect(recent.firstSight('e', 50)).toBe(true);
    expect(recent.firstSight('e', 50)).toBe(false);
    // A jump beyond the window forgets everything older.
    expect(recent.firstSight('e', 100 + RECENT_OFFSETS_WINDOW * 3)).toBe(true);
    expect(recent.firstSight('e', 100 + RECENT_OFFSETS_WINDOW * 3 - 1)).toBe(true);
  });

  it('when the ring wraps, then slots of old offsets are reused for new ones', () => {
    const recent = new RecentOffsets();
    for (let o = 1; o <= RECENT_OFFSETS_WINDOW * 4; o++) expect(recent.firstSight('e', o)).toBe(true);
    expect(recent.firstSight('e', RECENT_OFFSETS_WINDOW * 4 - 1)).toBe(false);
  });

  it('when an offset is older than the window, then it is delivered (it cannot be judged)', () => {
    const recent = new RecentOffsets();
    recent.firstSight('e', 1);
    recent.firstSight('e', 1 + RECENT_OFFSETS_WINDOW);
    expect(recent.firstSight('e', 1)).toBe(true);
  });

  it('when the epoch changes, then offsets start over', () => {
    const recent = new RecentOffsets();
    for (let o = 1; o <= 5; o++) recent.firstSight('old', o);
    expect(recent.firstSight('new', 1)).toBe(true);
    expect(recent.firstSight('new', 2)).toBe(true);
    expect(recent.firstSight('new', 2)).toBe(false);
  });

  it('when a position was seeded, then every offset at or below it is seen, also beyond the window', () => {
    const recent = new RecentOffsets();
    const seeded = RECENT_OFFSETS_WINDOW * 3;
    recent.seed('e', seeded);
    expect(recent.firstSight('e', seeded)).toBe(false);
    expect(recent.firstSight('e', 1)).toBe(false);
    expect(recent.firstSight('e', seeded + 1)).toBe(true);
    expect(recent.firstSight('e', seeded + 1 + RECENT_OFFSETS_WINDOW * 2)).toBe(true);
    expect(recent.firstSight('e', 2)).toBe(false);
    // A new epoch forgets the seed.
    expect(recent.firstSight('f', 1)).toBe(true);
  });

  it('when offsets arrive in order, then an old repeat far behind is still dropped (the in-order run is exact)', () => {
    const recent = new RecentOffsets();
    for (let o = 1; o <= RECENT_OFFSETS_WINDOW * 2; o++) recent.firstSight('e', o);
    expect(recent.firstSight('e', 3)).toBe(false);
  });

  it('when asked whether a position is covered, then only an unbroken run up to it in the epoch counts', () => {
    const recent = new RecentOffsets();
    expect(recent.covers('e', 0)).toBe(false);
    recent.seed('e', 10);
    expect(recent.covers('e', 10)).toBe(true);
    expect(recent.covers('e', 11)).toBe(false);
    expect(recent.covers('f', 1)).toBe(false);
    recent.firstSight('e', 11);
    expect(recent.covers('e', 11)).toBe(true);
    recent.firstSight('e', 14); // 12 and 13 skipped
    expect(recent.covers('e', 11)).toBe(true);
    expect(recent.covers('e', 14)).toBe(false);
    recent.firstSight('e', 13);
    recent.firstSight('e', 12);
    expect(recent.covers('e', 14)).toBe(true);
  });
});
