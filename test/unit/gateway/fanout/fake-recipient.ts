import type { Recipient } from '../../../../services/gateway/fanout/outlet.js';

/** A message body the fan-out tests use: its offset, so a received frame tells which message it is. */
export const payload = (offset: number): Buffer => Buffer.from(`{"o":${offset}}`);

/**
 * Records what the fan-out hands it: the frames, their delays, and the offsets they carry (null for
 * a frame of another shape), each list growing as frames arrive.
 */
export class FakeRecipient implements Recipient {
  readonly frames: Buffer[] = [];
  readonly delays: number[] = [];
  readonly offsets: (number | null)[] = [];
  constructor(private readonly onPush?: (frame: Buffer) => void) {}

  push(frame: Buffer, delayMs: number): void {
    this.frames.push(frame);
    this.delays.push(delayMs);
    const match = /^\{"o":(\d+)\}$/.exec(frame.subarray(2).toString());
    this.offsets.push(match === null ? null : Number(match[1]));
    this.onPush?.(frame);
  }
}
