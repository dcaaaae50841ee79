/**
 * A raw Server-Sent Events reader for tests: opens GET /v1/sse over plain HTTP (headers of the
 * test's choosing, e.g. Last-Event-ID), parses the stream into events as the EventSource spec does
 * (event, id, data joined by newlines), and lets a test wait for the next one that matches.
 */
import { request, type IncomingMessage } from 'node:http';

export interface SseEvent {
  /** `message` unless the event names another type. */
  event: string;
  /** The id field, when the event has one. */
  id: string | undefined;
  data: string;
  /** `data` parsed as JSON (undefined when it is not JSON). */
  json: Record<string, unknown> | undefined;
}

export class SseReader {
  readonly events: SseEvent[] = [];
  private read = 0;
  private buffer = '';
  private ended = false;
  private wake: (() => void) | undefined;

  private constructor(
    readonly response: IncomingMessage,
    private readonly abort: () => void,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.parse();
    });
    response.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  /** Opens `url` (…/v1/sse?…); resolves once the response headers are in, whatever the status. */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) =>
        resolve(new SseReader(res, () => req.destroy())),
      );
      req.on('error', reject);
      req.end();
    });
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  /** Whether the server ended the stream. */
  get closed(): boolean {
    return this.ended;
  }

  /** The body of a refused request (not a stream), parsed as JSON. */
  async body(): Promise<Record<string, unknown>> {
    while (!this.ended) await this.changed(5_000);
    return JSON.parse(this.buffer) as Record<string, unknown>;
  }

  /** The next event (after those already taken) that matches, waiting up to `timeoutMs`. */
  async next(match: (e: SseEvent) => boolean = () => true, timeoutMs = 5_000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.read < this.events.length) {
        const event = this.events[this.read++]!;
        if (match(event)) return event;
      }
      if (this.ended) throw new Error('the stream ended without a matching event');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms`);
      await this.changed(left);
    }
  }

  /** The next event whose JSON data has this `type` (a protocol frame). */
  frame(type: string, timeoutMs?: number): Promise<Record<string, unknown>> {
    return this.next((e) => e.json?.type === type, timeoutMs).then((e) => e.json!);
  }

  /** Resolves once the server has ended the stream. */
  async ends(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the stream did not end within ${timeoutMs} ms`);
      await this.changed(left);
    }
  }

  close(): void {
    this.abort();
  }

  private changed(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private parse(): void {
    if (this.status !== 200) return;
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end < 0) break;
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'id') id = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length === 0) continue;
      const text = data.join('\n');
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      this.events.push({ event, id, data: text, json });
    }
    this.wake?.();
  }
}
