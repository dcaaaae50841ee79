import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../shared/client/index.js';

const sequence = (values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

describe('Backoff (full jitter)', () => {
  it('when drawn repeatedly, then each delay lies in [0, min × 2^attempt) and the ceiling stops at max', () => {
    const high = new Backoff({ minDelayMs: 100, maxDelayMs: 1_000, random: () => 0.999_999 });
    expect([1, 2, 3, 4, 5, 6].map(() => high.next())).toEqual([99, 199, 399, 799, 999, 999]);
    const low = new Backoff({ minDelayMs: 100, maxDelayMs: 1_000, random: () => 0 });
    expect([1, 2, 3].map(() => low.next())).toEqual([0, 0, 0]);
  });

  it('when the random source varies, then the delay is that fraction of the ceiling', () => {
    const b = new Backoff({ minDelayMs: 100, maxDelayMs: 10_000, random: sequence([0.5, 0.25, 0.75]) });
    expect([b.next(), b.next(), b.next()]).toEqual([50, 50, 300]);
    expect(b.attempts).toBe(3);
  });

  it('with Math.random, then thousands of delays stay within bounds and spread over them', () => {
    const b = new Backoff({ minDelayMs: 200, maxDelayMs: 5_000 });
    const delays: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      const ceiling = b.ceiling();
      const delay = b.next();
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(ceiling);
      if (ceiling === 5_000) delays.push(delay);
    }
    // Jitter, not a fixed value: the capped delays cover both halves of the range.
    expect(delays.some((d) => d < 2_500)).toBe(true);
    expect(delays.some((d) => d >= 2_500)).toBe(true);
  });

  it('when reset, then the next ceiling is min again', () => {
    const b = new Backoff({ minDelayMs: 100, maxDelayMs: 10_000, random: () => 0.999_999 });
    b.next();
    b.next();
    b.next();
    expect(b.ceiling()).toBe(800);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(99);
  });

  it('when boosted, then the ceiling starts that many doublings higher, still capped', () => {
    const b = new Backoff({ minDelayMs: 100, maxDelayMs: 1_000, random: () => 0.999_999 });
    expect(b.ceiling(2)).toBe(400);
    expect(b.ceiling(10)).toBe(1_000);
    expect(b.ceiling(10_000)).toBe(1_000);
  });

  it('when the options make no sense, then the constructor refuses them', () => {
    expect(() => new Backoff({ minDelayMs: 0, maxDelayMs: 10 })).toThrow(RangeError);
    expect(() => new Backoff({ minDelayMs: 100, maxDelayMs: 10 })).toThrow(RangeError);
    expect(() => new Backoff({ minDelayMs: Number.NaN, maxDelayMs: 10 })).toThrow(RangeError);
  });
});
