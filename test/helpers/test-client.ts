import WebSocket from 'ws';
import type { ServerFrame } from '../../shared/protocol/frames.js';

type Frame = ServerFrame & Record<string, unknown>;

/**
 * A WebSocket test client that records every frame and close, and waits for them by predicate with a
 * deadline (never a fixed sleep).
 */
export class TestClient {
  readonly frames: Frame[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private readonly waiters = new Set<() => void>();
  private cursor = 0;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(JSON.parse(data.toString('utf8')) as Frame);
      this.notify();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      this.notify();
    });
    ws.on('error', () => this.notify());
  }

  static async connect(
    url: string,
    options: { token?: string; headers?: Record<string, string>; autoPong?: boolean } = {},
  ): Promise<TestClient> {
    const full = options.token === undefined ? url : `${url}?token=${encodeURIComponent(options.token)}`;
    const ws = new WebSocket(full, { headers: options.headers, autoPong: options.autoPong ?? true });
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
    return client;
  }

  /** Connects with a query token and waits for `welcome`. */
  static async open(url: string, token: string): Promise<TestClient> {
    const client = await TestClient.connect(url, { token });
    await client.next('welcome');
    return client;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits for the next frame (after the previous `next`) of `type` that matches `match`. */
  async next(
    type: ServerFrame['type'],
    match: (f: Frame) => boolean = () => true,
    timeoutMs = 3_000,
  ): Promise<Frame> {
    const frame = await this.until(
      () => {
        for (let i = this.cursor; i < this.frames.length; i++) {
          const f = this.frames[i]!;
          if (f.type === type && match(f)) {
            this.cursor = i + 1;
            return f;
          }
        }
        return undefined;
      },
      `a ${type} frame`,
      timeoutMs,
    );
    return frame;
  }

  /** Subscribes and waits for `subscribed` or `error` for that channel. */
  async subscribe(channel: string, extra: Record<string, unknown> = {}): Promise<Frame> {
    const ref = `sub-${channel}-${this.frames.length}`;
    this.send({ type: 'subscribe', channel, ref, ...extra });
    return this.until(() => this.frames.find((f) => f.ref === ref), `reply to subscribe ${channel}`);
  }

  messages(channel?: string): Frame[] {
    return this.frames.filter(
      (f) => f.type === 'message' && (channel === undefined || f.channel === channel),
    );
  }

  async waitForMessages(count: number, channel?: string, timeoutMs = 3_000): Promise<Frame[]> {
    return this.until(
      () => {
        const found = this.messages(channel);
        return found.length >= count ? found : undefined;
      },
      `${count} messages${channel ? ` on ${channel}` : ''}`,
      timeoutMs,
    );
  }

  async waitClose(timeoutMs = 3_000): Promise<number> {
    return this.until(() => this.closeCode, 'the connection to close', timeoutMs);
  }

  close(): void {
    this.ws.close();
  }

  private until<T>(check: () => T | undefined, what: string, timeoutMs = 3_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const attempt = (): boolean => {
        const value = check();
        if (value === undefined) return false;
        cleanup();
        resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; frames: ${JSON.stringify(this.frames.slice(-5))}`,
          ),
        );
      }, timeoutMs);
      const waiter = (): void => void attempt();
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      if (!attempt()) this.waiters.add(waiter);
    });
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
