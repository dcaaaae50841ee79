/**
 * Publishing: reserve the channel's next offset, build the client `message` frame once, and hand it
 * to the bus as one envelope. Every node (this one included) delivers it from the bus.
 */
import { randomUUID } from 'node:crypto';
import type { Bus } from '../bus/bus.js';
import type { ChannelOffsets } from '../state/channel-offsets.js';
import { encodeControlEnvelope, encodeMessageEnvelope, type ControlMessage } from './envelope.js';

export interface PublishInput {
  channel: string;
  event: string;
  /** The message data, already serialized as JSON (the API serialized it once to check its size). */
  dataJson: string;
  /** Message id; one event published to several channels keeps one id. Default: a new UUID. */
  id?: string;
}

export interface PublishedMessage {
  channel: string;
  id: string;
  offset: number;
  epoch: string;
}

export interface PublishObserver {
  published(channel: string, busMs: number): void;
}

export class Publisher {
  constructor(
    private readonly bus: Bus,
    private readonly offsets: ChannelOffsets,
    private readonly observer?: PublishObserver,
  ) {}

  /** Rejects with `BusUnavailableError` when the bus does not take the message. */
  async publish(input: PublishInput): Promise<PublishedMessage> {
    const [published] = await this.publishMany([input]);
    return published!;
  }

  /**
   * Publishes several messages in order. Offsets are reserved together (one round trip's worth of
   * waiting, in call order) and the envelopes are handed to the bus back to back, in input order,
   * without waiting for each confirm: receiving nodes get the burst in few reads and write it to each
   * socket in one syscall. Rejects if any message was not taken; earlier ones may have been.
   */
  async publishMany(inputs: readonly PublishInput[]): Promise<PublishedMessage[]> {
    const positions = await Promise.all(inputs.map((input) => this.offsets.next(input.channel)));
    const started = performance.now();
    const sends: Promise<void>[] = [];
    const published = inputs.map((input, i): PublishedMessage => {
      const { offset, epoch } = positions[i]!;
      const id = input.id ?? randomUUID();
      // The frame is assembled around the pre-serialized data instead of re-stringifying it.
      const frameJson =
        `{"type":"message","channel":${JSON.stringify(input.channel)},"offset":${offset},"id":"${id}",` +
        `"event":${JSON.stringify(input.event)},"data":${input.dataJson},"ts":${Date.now()}}`;
      sends.push(
        this.bus.publish(encodeMessageEnvelope(input.channel, offset, epoch, frameJson)).then(() => {
          this.observer?.published(input.channel, performance.now() - started);
        }),
      );
      return { channel: input.channel, id, offset, epoch };
    });
    await Promise.all(sends);
    return published;
  }

  async control(message: ControlMessage): Promise<void> {
    await this.bus.publish(encodeControlEnvelope(message));
  }
}
