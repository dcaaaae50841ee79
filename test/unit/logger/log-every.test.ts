import { describe, expect, it } from 'vitest';
import { LogEvery } from '../../../shared/logger/log-every.js';

describe('LogEvery', () => {
  it('answers the first occurrence at once, then at most once per interval with the count since', () => {
    let now = 1_000;
    const every = new LogEvery(60_000, () => now);
    expect(every.take()).toBe(1);
    expect(every.take()).toBeUndefined();
    now += 59_999;
    expect(every.take()).toBeUndefined();
    now += 1;
    expect(every.take()).toBe(3);
    expect(every.take()).toBeUndefined();
  });
});
