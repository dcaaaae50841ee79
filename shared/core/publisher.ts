/**
 * Publishing: reserve the channel's next offset, build the client `message` frame once, and hand it
 * to the bus as one envelope. Every node (this one included) delivers it from the bus.
 */
import { randomUUID } from 'node:crypto';
import { BusUnavailableError, type Bus } from '../bus/bus.js';
import type { History } from '../state/history.js';
import { encodeControlEnvelope, encodeMessageEnvelope, type ControlMessage } from './envelope.js';
import { messageFrameJson } from './message-frame.js';

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
  /** The bus refused a message already in history: nodes get it by gap repair or catch-up. */
  busFailed(channel: string, err: unknown): void;
}

export class Publisher {
  constructor(
    private readonly bus: Bus,
    private readonly history: History,
    private readonly observer?: PublishObserver,
  ) {}

  /** Rejects with `BusUnavailableError` when the bus does not take the message. */
  async publish(input: PublishInput): Promise<PublishedMessage> {
    const [published] = await this.publishMany([input]);
    return published!;
  }

  /**
   * Publishes several messages in order.
   *  - While the bus is known to be down, nothing is stored: rejects with BusUnavailableError (503).
   *  - Each message is appended to history first (offset assignment and storage in one step), so a
   *    resolved publish means durable.
   *  - Then the envelopes are handed to the bus back to back, in input order, without waiting for each
   *    confirm: receiving nodes get the burst in few reads and write it to each socket in one syscall.
   *  - A message the bus then refuses is still durable: nodes fill the gap from history when the next
   *    message of the channel arrives, or when their bus resumes; recovering clients get it. So that
   *    failure is reported to the observer, not to the caller.
   */
  async publishMany(inputs: readonly PublishInput[]): Promise<PublishedMessage[]> {
    if (!this.bus.ready) throw new BusUnavailableError('cluster bus unavailable; nothing was published');
    const messages = inputs.map((input) => ({
      id: input.id ?? randomUUID(),
      event: input.event,
      dataJson: input.dataJson,
      ts: Date.now(),
    }));
    const positions = await Promise.all(
      inputs.map((input, i) => this.history.append(input.channel, messages[i]!)),
    );
    const started = performance.now();
    const sends: Promise<void>[] = [];
    const published = inputs.map((input, i): PublishedMessage => {
      const { offset, epoch } = positions[i]!;
      const message = messages[i]!;
      const frameJson = messageFrameJson({ channel: input.channel, offset, epoch, ...message });
      sends.push(
        this.bus.publish(encodeMessageEnvelope(input.channel, offset, epoch, frameJson)).then(
          () => this.observer?.published(input.channel, performance.now() - started),
          (err: unknown) => this.observer?.busFailed(input.channel, err),
        ),
      );
      return { channel: input.channel, id: message.id, offset, epoch };
    });
    await Promise.all(sends);
    return published;
  }

  async control(message: ControlMessage): Promise<void> {
    await this.bus.publish(encodeControlEnvelope(message));
  }
}
