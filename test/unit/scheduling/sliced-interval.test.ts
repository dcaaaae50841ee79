import { afterEach, describe, expect, it, vi } from 'vitest';
import { SlicedInterval, sliceOf } from '../../../shared/scheduling/sliced-interval.js';

describe('SlicedInterval', () => {
  afterEach(() => vi.useRealTimers());

  it('when a period passes, then every slice ran exactly once, in order, a tick apart', () => {
    vi.useFakeTimers();
    const ran: number[] = [];
    const interval = new SlicedInterval(1000, 4, (slice) => ran.push(slice));
    vi.advanceTimersByTime(999);
    expect(ran).toEqual([0, 1, 2]);
    vi.advanceTimersByTime(1);
    expect(ran).toEqual([0, 1, 2, 3]);
    vi.advanceTimersByTime(1000);
    expect(ran).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    interval.stop();
    vi.advanceTimersByTime(5000);
    expect(ran).toHaveLength(8);
  });

  it('when slices is not a positive integer, then it throws a TypeError', () => {
    expect(() => new SlicedInterval(1000, 0, () => undefined)).toThrow(TypeError);
    expect(() => new SlicedInterval(1000, 1.5, () => undefined)).toThrow(TypeError);
  });
});

describe('sliceOf', () => {
  it('when asked twice for one key, then it answers the same slice within range', () => {
    for (const key of ['', 'user-1', 'bench-3999', 'ü🌞']) {
      const slice = sliceOf(key, 10);
      expect(slice).toBe(sliceOf(key, 10));
      expect(slice).toBeGreaterThanOrEqual(0);
      expect(slice).toBeLessThan(10);
    }
  });

  it('when many keys are sliced, then every slice gets a fair share', () => {
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) counts[sliceOf(`user-${i}`, 10)]!++;
    for (const count of counts) expect(count).toBeGreaterThan(800);
  });
});
