import { describe, expect, it } from 'vitest';
import { nestsDeeperThan } from '../../../services/api/json-depth.js';

describe('JSON nesting depth', () => {
  it('when arrays and objects nest, then their depth counts; brackets in strings and escaped quotes do not', () => {
    expect(nestsDeeperThan('[[{"a":[1]}]]', 4)).toBe(false);
    expect(nestsDeeperThan('[[{"a":[1]}]]', 3)).toBe(true);
    expect(nestsDeeperThan('{"s":"[[[[[[\\"[[[["}', 1)).toBe(false);
    expect(nestsDeeperThan('[[],[],[]]', 2)).toBe(false);
    expect(nestsDeeperThan('"no nesting"', 0)).toBe(false);
  });
});
