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
    const { offset, epoch } = await this.offsets.next(input.channel);
    const id = input.id ?? randomUUID();
    const ts = Date.now();
    // The frame is assembled around the pre-serialized data instead of re-stringifying it.
    const frameJson =
      `{"type":"message","channel":${JSON.stringify(input.channel)},"offset":${offset},"id":"${id}",` +
      `"event":${JSON.stringify(input.event)},"data":${input.dataJson},"ts":${ts}}`;
    const envelope = encodeMessageEnvelope(input.channel, offset, epoch, frameJson);
    const started = performance.now();
    await this.bus.publish(envelope);
    this.observer?.published(input.channel, performance.now() - started);
    return { channel: input.channel, id, offset, epoch };
  }

  async control(message: ControlMessage): Promise<void> {
    await this.bus.publish(encodeControlEnvelope(message));
  }
}
