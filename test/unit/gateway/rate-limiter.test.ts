import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../../services/gateway/rate-limiter.js';

/** A manual clock in milliseconds. */
function clock(start = 1_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const takeMany = (bucket: TokenBucket, n: number): boolean[] =>
  Array.from({ length: n }, () => bucket.take());

describe('TokenBucket', () => {
  it('when the bucket is new, then exactly `burst` takes succeed without time passing', () => {
    const c = clock();
    const bucket = new TokenBucket(10, 5, c.now);
    expect(takeMany(bucket, 6)).toEqual([true, true, true, true, true, false]);
  });

  it('when the bucket is empty, then it stays empty until time passes', () => {
    const c = clock();
    const bucket = new TokenBucket(10, 2, c.now);
    takeMany(bucket, 2);
    expect(takeMany(bucket, 3)).toEqual([false, false, false]);
  });

  it('when 1/rate seconds pass after emptying, then exactly one more take succeeds', () => {
    const c = clock();
    const bucket = new TokenBucket(10, 3, c.now);
    takeMany(bucket, 3);
    c.advance(100);
    expect(takeMany(bucket, 2)).toEqual([true, false]);
  });

  it('when only half a token has refilled, then the take fails, and succeeds once the rest has refilled', () => {
    const c = clock();
    const bucket = new TokenBucket(10, 1, c.now);
    expect(bucket.take()).toBe(true);
    c.advance(50);
    expect(bucket.take()).toBe(false);
    c.advance(50);
    expect(bucket.take()).toBe(true);
  });

  it('when the bucket is idle for a long time, then it refills only up to `burst`', () => {
    const c = clock();
    const bucket = new TokenBucket(10, 4, c.now);
    takeMany(bucket, 4);
    c.advance(60_000);
    expect(takeMany(bucket, 5)).toEqual([true, true, true, true, false]);
  });

  it('when frames arrive exactly at the rate, then every one is accepted indefinitely', () => {
    const c = clock();
    const bucket = new TokenBucket(50, 50, c.now);
    takeMany(bucket, 50);
    const results: boolean[] = [];
    for (let i = 0; i < 200; i++) {
      c.advance(20);
      results.push(bucket.take());
    }
    expect(results.every(Boolean)).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it('when frames arrive at twice the rate after the burst, then about half are refused', () => {
    const c = clock();
    const bucket = new TokenBucket(10, 10, c.now);
    takeMany(bucket, 10);
    let accepted = 0;
    for (let i = 0; i < 100; i++) {
      c.advance(50);
      if (bucket.take()) accepted++;
    }
    // 100 frames over 5 s at 10/s: 50 tokens refill.
    expect(accepted).toBe(50);
  });

  it('when no clock is injected, then the bucket still starts full', () => {
    const bucket = new TokenBucket(1, 3);
    expect(takeMany(bucket, 3)).toEqual([true, true, true]);
  });
});
