/**
 * A real webhook endpoint for tests: an HTTP server on a free port that records every POST (headers,
 * body, whether its Herald-Signature verifies with the secret) and answers as the test decides per
 * request (a status, or never).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  id: string;
  type: string;
  ts: number;
  data: Record<string, unknown>;
  /** The Herald-Signature verified with the secret, over the exact body received. */
  signed: boolean;
  /** The signature's `t` (unix seconds). */
  t: number;
  /** When it arrived (ms since the epoch). */
  at: number;
  headers: IncomingMessage['headers'];
}

/** What to answer a request with: an HTTP status, or `hang` (never answer). */
export type Answer = number | 'hang';

/** Verifies `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>` (docs/webhooks.md's example). */
export function verifySignature(
  secret: string,
  header: string | undefined,
  body: string,
): number | undefined {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (match === null) return undefined;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${body}`).digest();
  const given = Buffer.from(match[2]!, 'hex');
  return timingSafeEqual(expected, given) ? Number(match[1]) : undefined;
}

export class WebhookReceiver {
  /** Every request, in arrival order, whatever it was answered. */
  readonly requests: ReceivedWebhook[] = [];
  /** Answers for the next requests, in order; then `fallback`. */
  readonly script: Answer[] = [];
  fallback: Answer = 200;
  /** The most requests it held unanswered at once. */
  maxOpen = 0;
  private open = 0;
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly secret: string,
  ) {}

  static async start(secret: string, path = '/hooks/herald'): Promise<WebhookReceiver> {
    const holder: { receiver?: WebhookReceiver } = {};
    const server = createServer((req, res) => holder.receiver!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const receiver = new WebhookReceiver(server, `http://127.0.0.1:${port}${path}`, secret);
    holder.receiver = receiver;
    return receiver;
  }

  /** Events answered 2xx, in order (what the backend processed). */
  get accepted(): ReceivedWebhook[] {
    return this.requests.filter((r) => (r as ReceivedWebhook & { status?: Answer }).status === 200);
  }

  of(type: string): ReceivedWebhook[] {
    return this.requests.filter((r) => r.type === type);
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.open += 1;
    this.maxOpen = Math.max(this.maxOpen, this.open);
    res.on('close', () => (this.open -= 1));
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const t = verifySignature(this.secret, req.headers['herald-signature'] as string | undefined, body);
      const answer = this.script.shift() ?? this.fallback;
      const event = JSON.parse(body) as Omit<ReceivedWebhook, 'signed' | 't' | 'at' | 'headers'>;
      this.requests.push(
        Object.assign(
          { ...event, signed: t !== undefined, t: t ?? 0, at: Date.now(), headers: req.headers },
          { status: answer },
        ),
      );
      if (answer === 'hang') {
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        return;
      }
      res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer === 200 ? 'ok' : 'no');
    });
  }
}
