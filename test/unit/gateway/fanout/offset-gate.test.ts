import { describe, expect, it } from 'vitest';
import { OffsetGate } from '../../../../services/gateway/fanout/offset-gate.js';

const m = (offset: number, epoch = 'e') => ({ offset, epoch });

describe('OffsetGate', () => {
  it('when created holding, then items wait and release passes them oldest offset first', () => {
    const gate = new OffsetGate<{ offset: number; epoch: string }>(true);
    expect(gate.holding).toBe(true);
    for (const o of [4, 2, 3]) gate.hold(m(o));
    const passed: number[] = [];
    expect(gate.release((item) => passed.push(item.offset))).toBe(0);
    expect(passed).toEqual([2, 3, 4]);
    expect(gate.holding).toBe(false);
    expect(gate.highIn('e')).toBe(4);
  });

  it('when a position was seeded, then held items at or below it and repeats are dropped and counted', () => {
    const gate = new OffsetGate<{ offset: number; epoch: string }>(true);
    for (const o of [7, 5, 9, 8, 9, 6]) gate.hold(m(o));
    gate.seed('e', 6);
    const passed: number[] = [];
    expect(gate.release((item) => passed.push(item.offset))).toBe(3);
    expect(passed).toEqual([7, 8, 9]);
    expect(gate.admit('e', 8)).toBe(false);
    expect(gate.admit('e', 10)).toBe(true);
  });

  it('when not holding, then hold() starts holding and admit() tells first sights from repeats', () => {
    const gate = new OffsetGate<{ offset: number; epoch: string }>();
    expect(gate.holding).toBe(false);
    expect(gate.admit('e', 1)).toBe(true);
    expect(gate.admit('e', 1)).toBe(false);
    gate.hold();
    expect(gate.holding).toBe(true);
    gate.hold(m(1));
    gate.hold(m(2));
    const passed: number[] = [];
    expect(gate.release((item) => passed.push(item.offset))).toBe(1);
    expect(passed).toEqual([2]);
  });

  it('when release is called without holding, then nothing passes', () => {
    const gate = new OffsetGate<{ offset: number; epoch: string }>();
    expect(gate.release(() => expect.unreachable())).toBe(0);
  });

  it('when held items skip offsets, then the first missing range after a position is found', () => {
    const gate = new OffsetGate<{ offset: number; epoch: string }>(true);
    expect(gate.firstHeldGap('e', 3)).toBeUndefined();
    for (const o of [6, 4, 9, 4, 5]) gate.hold(m(o));
    gate.hold(m(20, 'other'));
    expect(gate.firstHeldGap('e', 3)).toEqual([6, 8]);
    expect(gate.firstHeldGap('e', 1)).toEqual([1, 3]);
    expect(gate.firstHeldGap('e', 9)).toBeUndefined();
  });

  it('when held items of another epoch come first, then items of the seeded epoch at or below the seed still never pass', () => {
    const gate = new OffsetGate<{ offset: number; epoch: string }>(true);
    for (const item of [m(1, 'new'), m(14, 'old'), m(16, 'old')]) gate.hold(item);
    gate.seed('old', 15);
    const passed: string[] = [];
    expect(gate.release((item) => passed.push(`${item.epoch}:${item.offset}`))).toBe(1);
    expect(passed).toEqual(['new:1', 'old:16']);
  });
});
