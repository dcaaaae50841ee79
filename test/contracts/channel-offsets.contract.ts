/**
 * Contract suite for `ChannelOffsets` (shared/state/channel-offsets.ts): every driver runs it.
 *
 * The factory returns a fresh driver over isolated state (see ContractSubject). That the epoch changes
 * when the counter is lost cannot be provoked through the interface; driver-specific tests cover it.
 */
import { describe, expect, it } from 'vitest';
import type { ChannelOffsets, ChannelPosition } from '../../shared/state/channel-offsets.js';
import { useSubject, type ContractFactory } from './subject.js';

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function expectEpoch(position: ChannelPosition): void {
  expect(typeof position.epoch).toBe('string');
  expect(position.epoch.length).toBeGreaterThan(0);
}

export function channelOffsetsContract(name: string, factory: ContractFactory<ChannelOffsets>): void {
  describe(`ChannelOffsets contract: ${name}`, () => {
    const subject = useSubject(factory);

    it('when a channel gets its first message, then next returns offset 1 with an epoch', async () => {
      const first = await subject.driver.next('user:alice');

      expect(first.offset).toBe(1);
      expectEpoch(first);
    });

    it('when next is called in turn, then offsets run 1, 2, 3, … on one epoch', async () => {
      const offsets = subject.driver;
      const positions: ChannelPosition[] = [];
      for (let i = 0; i < 5; i++) positions.push(await offsets.next('user:alice'));

      expect(positions.map((p) => p.offset)).toEqual([1, 2, 3, 4, 5]);
      expect(new Set(positions.map((p) => p.epoch)).size).toBe(1);
    });

    it('when 200 next calls race on one channel, then they get exactly offsets 1..200, each once, on one epoch', async () => {
      const offsets = subject.driver;

      const positions = await Promise.all(Array.from({ length: 200 }, () => offsets.next('broadcast')));

      const sorted = positions.map((p) => p.offset).sort((a, b) => a - b);
      expect(new Set(sorted).size).toBe(200);
      expect(sorted).toEqual(range(1, 200));
      expect(new Set(positions.map((p) => p.epoch)).size).toBe(1);
      expect(await offsets.current('broadcast')).toEqual({ offset: 200, epoch: positions[0]!.epoch });
      expect(await offsets.next('broadcast')).toEqual({ offset: 201, epoch: positions[0]!.epoch });
    });

    it('when channels are used side by side, then each counts on its own', async () => {
      const offsets = subject.driver;
      for (let i = 0; i < 3; i++) await offsets.next('user:alice');

      expect((await offsets.next('user:bob')).offset).toBe(1);
      expect((await offsets.current('user:alice')).offset).toBe(3);
      expect((await offsets.current('user:bob')).offset).toBe(1);
      expect((await offsets.current('order:o-1')).offset).toBe(0);
    });

    it('when two channels are raced at once, then each still gets contiguous offsets', async () => {
      const offsets = subject.driver;

      const positions = await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const channel = i % 2 ? 'user:alice' : 'user:bob';
          return offsets.next(channel).then((position) => ({ channel, ...position }));
        }),
      );

      for (const channel of ['user:alice', 'user:bob']) {
        const mine = positions.filter((p) => p.channel === channel);
        expect(mine.map((p) => p.offset).sort((a, b) => a - b)).toEqual(range(1, 100));
        expect(new Set(mine.map((p) => p.epoch)).size).toBe(1);
        expect((await offsets.current(channel)).offset).toBe(100);
      }
    });

    it('when current is asked about an unused channel, then it returns offset 0 and reserves nothing', async () => {
      const offsets = subject.driver;

      const before = await offsets.current('user:alice');
      expect(before.offset).toBe(0);
      expectEpoch(before);
      expect(await offsets.current('user:alice')).toEqual(before);

      expect(await offsets.next('user:alice')).toEqual({ offset: 1, epoch: before.epoch });
    });

    it('when current is asked after messages, then it returns the newest reserved offset and reserves nothing', async () => {
      const offsets = subject.driver;
      let last: ChannelPosition | undefined;
      for (let i = 0; i < 4; i++) last = await offsets.next('user:alice');

      const current = await offsets.current('user:alice');
      expect(current).toEqual(last);
      expect(await offsets.current('user:alice')).toEqual(current);

      expect(await offsets.next('user:alice')).toEqual({ offset: 5, epoch: current.epoch });
      expect(await offsets.current('user:alice')).toEqual({ offset: 5, epoch: current.epoch });
    });

    it('when offsets is closed, then close resolves', async () => {
      await subject.driver.next('user:alice');

      await expect(subject.close()).resolves.toBeUndefined();
    });
  });
}
