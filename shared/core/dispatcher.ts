/**
 * The receiving half of the cluster core: decodes what the bus brings and hands it to the local
 * delivery sink (the gateway). Bad envelopes are logged and dropped here, never thrown into the core.
 */
import type { Bus } from '../bus/bus.js';
import type { Logger } from '../logger/logger.js';
import { decodeEnvelope, type ReadMoved } from './envelope.js';

export interface DeliverySink {
  /** Delivers one message frame (already-encoded JSON bytes) to local subscribers of `channel`. */
  deliver(channel: string, offset: number, epoch: string, frame: Buffer, publishedAt: number): void;
  /** Closes every local connection of `userId`. */
  disconnectUser(userId: string, reason: string): void;
  /** A user's read position moved on another node: tells the user's local connections. */
  readMoved(read: ReadMoved): void;
  /** The bus came back after an outage: catch up from history on every local channel. */
  resync(): void;
}

export class Dispatcher {
  constructor(
    private readonly bus: Bus,
    private readonly sink: DeliverySink,
    private readonly log: Logger,
    /** Counts what the bus brought (not `local` deliveries). */
    private readonly received?: () => void,
  ) {}

  start(): Promise<void> {
    return this.bus.start(
      (payload) => {
        this.received?.();
        this.onPayload(payload);
      },
      {
        resumed: () => {
          this.log.info('bus resumed; catching up local channels from history');
          this.sink.resync();
        },
      },
    );
  }

  /** Delivers an envelope this node published to its own subscribers, as the bus would (Publisher routing). */
  local(payload: Buffer): void {
    this.onPayload(payload);
  }

  private onPayload(payload: Buffer): void {
    const envelope = decodeEnvelope(payload);
    if (envelope === undefined) {
      this.log.warn({ bytes: payload.length }, 'dropped a bus payload that is not an envelope');
      return;
    }
    try {
      if (envelope.kind === 'message') {
        this.sink.deliver(envelope.channel, envelope.offset, envelope.epoch, envelope.frame, envelope.ts);
      } else if (envelope.control.kind === 'read') this.sink.readMoved(envelope.control);
      else this.sink.disconnectUser(envelope.control.userId, envelope.control.reason);
    } catch (err) {
      this.log.error({ err }, 'delivery failed');
    }
  }
}
