import { describe, expect, it } from 'vitest';
import { Cursor } from '../../../shared/client/index.js';

describe('Cursor: dedupe by (channel, epoch, offset)', () => {
  it('when offsets arrive in order, then each is new and becomes the position', () => {
    const c = new Cursor();
    expect(c.position).toBeUndefined();
    expect([1, 2, 3].map((o) => c.accept('e1', o))).toEqual([true, true, true]);
    expect(c.position).toEqual({ offset: 3, epoch: 'e1' });
  });

  it('when an offset at or below the last one of the same epoch comes again, then it is a duplicate', () => {
    const c = new Cursor({ offset: 5, epoch: 'e1' });
    expect(c.accept('e1', 5)).toBe(false);
    expect(c.accept('e1', 2)).toBe(false);
    expect(c.accept('e1', 6)).toBe(true);
    expect(c.position).toEqual({ offset: 6, epoch: 'e1' });
  });

  it('when a message of another epoch arrives, then it starts over: delivered, and its offsets count from it', () => {
    const c = new Cursor({ offset: 40, epoch: 'old' });
    expect(c.accept('new', 1)).toBe(true);
    expect(c.position).toEqual({ offset: 1, epoch: 'new' });
    expect(c.accept('new', 1)).toBe(false);
    expect(c.accept('new', 2)).toBe(true);
  });

  it('when reset to a server position, then dedupe goes on from there', () => {
    const c = new Cursor({ offset: 3, epoch: 'e1' });
    c.reset({ offset: 10, epoch: 'e1' });
    expect(c.accept('e1', 9)).toBe(false);
    expect(c.accept('e1', 11)).toBe(true);
  });

  it('when the position is read, then it is a copy the caller cannot change', () => {
    const c = new Cursor({ offset: 3, epoch: 'e1' });
    c.position!.offset = 99;
    expect(c.position).toEqual({ offset: 3, epoch: 'e1' });
  });

  it('when seeded with something that is not a position, then it refuses', () => {
    expect(() => new Cursor({ offset: -1, epoch: 'e' })).toThrow(TypeError);
    expect(() => new Cursor({ offset: 1.5, epoch: 'e' })).toThrow(TypeError);
    expect(() => new Cursor({ offset: 1, epoch: '' })).toThrow(TypeError);
  });
});
