/**
 * A herald.v1 client on a raw `ws` WebSocket, written from docs/protocol.md alone (its section 12
 * checklist), without reading the server or the SDK. Fault tests run many of them against node processes.
 *
 * auth frame (never ?token=), resume + positions after a reconnect (5.4), subscribe with positions for
 * anything not restored, dedupe by (channel, offset) + id (12), a short grace for gaps then
 * unsubscribe/subscribe from the last offset (6, 12), app-level ping (7), full-jitter backoff over the
 * URLs, HTTP refusals at the upgrade retried (10.2), `reconnect` frames make-before-break (3.2).
 * Cross-channel dedupe of order events by id (12) is not done: `delivered` is kept per channel.
 * Where the document was unclear, the reading taken is listed at the top of test/e2e/raw-client.test.ts.
 */
import WebSocket from 'ws';
import type { ChannelPosition } from '../../shared/protocol/frames.js';

export interface RawClientOptions {
  urls: string[]; // connect to urls[(first + i) % n] on the i-th attempt
  first?: number;
  token: () => Promise<string>; // called on every connect
  channels: string[];
  minBackoffMs?: number; // full-jitter exponential backoff: 100 ms …
  maxBackoffMs?: number; // … 2 s
  heartbeatMs?: number; // app ping interval; default welcome.heartbeatMs
  deadAfterMs?: number; // no frame for this long: dead link; default 2 × the ping interval (10 s before welcome)
  requestTimeoutMs?: number; // a request unanswered this long drops the connection; default 10 s
  gapGraceMs?: number; // an offset gap open this long resubscribes the channel; default 1 s
  stableMs?: number; // welcomed and subscribed this long resets the backoff; default 5 s
}
export interface ReceivedMessage {
  channel: string;
  offset: number;
  epoch: string;
  id: string;
  event: string;
  data: unknown;
}
type Frame = Record<string, unknown>;
type Position = ChannelPosition;
class ChannelState {
  epoch?: string;
  offset?: number; // last processed, or reported by recovered:false
  readonly seen = new Map<number, string>(); // offset → id of recent offsets
  readonly pending = new Map<number, ReceivedMessage>(); // arrived above a gap
  gapTimer?: NodeJS.Timeout;
}
class Conn {
  welcomed = false;
  welcomeSession?: string;
  resuming = false;
  resumeRef?: string;
  retired = false; // replaced after a reconnect frame; closed once the new one is ready
  readonly subscribed = new Set<string>();
  readonly sentPositions = new Map<string, Position>(); // sent per channel, until its subscribed
  readonly requests = new Map<string, number>(); // ref → sent at
  readonly timers: NodeJS.Timeout[] = [];
  lastSeen = Date.now();
  lastPing = Date.now();
  constructor(
    readonly ws: WebSocket,
    public pingEvery: number,
    public deadAfter: number,
  ) {}
}

const FINAL = new Set([1000, 4001, 4004]); // own close; bad token or client bug (never loop); operator ended it
const HARD = new Set([1002, 1007, 1008, 1009, 4008]); // client bugs / too many connections: long backoff
const SEEN_KEPT = 1000;

export class RawClient {
  readonly delivered = new Map<string, ReceivedMessage[]>();
  duplicatesDropped = 0;
  readonly notRecovered: { channel: string; offset: number; epoch: string }[] = [];
  reconnects = 0;
  resumes = 0;
  readonly closeCodes: number[] = [];
  nodes: string[] = [];
  readonly httpRefusals: number[] = [];
  readonly errors: string[] = [];
  private readonly chans = new Map<string, ChannelState>();
  private conn?: Conn;
  private session?: string;
  private attempt = 0; // URL rotation
  private backoffAttempt = 0;
  private opened = 0;
  private refs = 0;
  private closed = false;
  private nextUrl?: string;
  private hold?: Promise<void>;
  private reconnectTimer?: NodeJS.Timeout;
  private readonly retired = new Set<Conn>();
  private ready?: { resolve: () => void; reject: (e: Error) => void };

  constructor(private readonly options: RawClientOptions) {
    for (const c of options.channels) this.delivered.set(c, []);
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ready = { resolve, reject };
      void this.connect();
    });
  }

  connected(): boolean {
    const c = this.conn;
    if (!c?.welcomed || c.ws.readyState !== WebSocket.OPEN) return false;
    return this.options.channels.every((ch) => c.subscribed.has(ch));
  }

  /** Closed for good: by close(), or by a final close code (4001, 4004) or an unknown protocol. */
  get finished(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.ready?.reject(new Error('closed'));
    const all = [...this.retired, ...(this.conn ? [this.conn] : [])];
    await Promise.all(all.map((c) => this.shut(c)));
    for (const st of this.chans.values()) clearTimeout(st.gapTimer);
  }

  /** Test hook: drops the TCP link (no close frame) so the client reconnects, after `hold` if given. */
  dropConnection(hold?: Promise<void>): void {
    this.hold = hold;
    this.conn?.ws.terminate();
  }

  private shut(c: Conn): Promise<void> {
    if (c.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      c.ws.once('close', () => resolve());
      if (c.ws.readyState === WebSocket.OPEN) c.ws.close(1000);
      else if (c.ws.readyState === WebSocket.CONNECTING) c.ws.terminate();
    });
  }

  private chan(channel: string): ChannelState {
    let st = this.chans.get(channel);
    if (!st) this.chans.set(channel, (st = new ChannelState()));
    return st;
  }

  private position(channel: string): Position | undefined {
    const st = this.chans.get(channel);
    return st?.epoch !== undefined && st.offset !== undefined
      ? { offset: st.offset, epoch: st.epoch }
      : undefined;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const { urls, first = 0 } = this.options;
    const url = this.nextUrl ?? urls[(first + this.attempt++) % urls.length]!;
    this.nextUrl = undefined;
    let token: string;
    try {
      token = await this.options.token();
    } catch (e) {
      this.errors.push(`token: ${String(e)}`);
      return this.reconnectLater(false);
    }
    if (this.closed) return;
    const ws = new WebSocket(url, { handshakeTimeout: 5000, perMessageDeflate: false });
    const c = new Conn(ws, this.options.heartbeatMs ?? 25_000, this.options.deadAfterMs ?? 10_000);
    this.conn = c;
    const alive = (): void => void (c.lastSeen = Date.now());
    ws.on('unexpected-response', (_req, res) => {
      this.httpRefusals.push(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('error', (e) => this.errors.push(`socket: ${e.message}`));
    ws.on('ping', alive);
    ws.on('pong', alive);
    ws.on('open', () => this.guard(() => this.onOpen(c, token)));
    ws.on('message', (data, isBinary) => {
      alive();
      if (!isBinary) this.guard(() => this.onFrame(c, JSON.parse((data as Buffer).toString()) as Frame));
    });
    ws.on('close', (code) => this.guard(() => this.onClose(c, code)));
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.errors.push(`handler: ${String(e)}`);
    }
  }

  /** Sends a request with a fresh ref, remembered until its reply; returns the ref. */
  private send(c: Conn, frame: Frame): string {
    const ref = `${String(frame.type)}-${++this.refs}`;
    if (c.ws.readyState !== WebSocket.OPEN) return ref;
    c.requests.set(ref, Date.now());
    c.ws.send(JSON.stringify({ ...frame, ref }));
    return ref;
  }

  private subscribe(c: Conn, channel: string): void {
    const pos = this.position(channel);
    if (pos) c.sentPositions.set(channel, pos);
    else c.sentPositions.delete(channel);
    this.send(c, { type: 'subscribe', channel, ...pos });
  }

  private onOpen(c: Conn, token: string): void {
    if (this.opened++ > 0) this.reconnects++;
    c.lastSeen = Date.now();
    c.timers.push(setInterval(() => this.guard(() => this.tick(c)), 100));
    this.send(c, { type: 'auth', token }); // pipelined (2.2)
    if (this.session) {
      const positions: Record<string, Position> = {};
      for (const ch of this.options.channels) {
        const pos = this.position(ch);
        if (pos) c.sentPositions.set(ch, (positions[ch] = pos));
      }
      c.resuming = true;
      c.resumeRef = this.send(c, { type: 'resume', session: this.session, positions });
    } else for (const ch of this.options.channels) this.subscribe(c, ch);
  }

  private tick(c: Conn): void {
    const now = Date.now();
    if (c.welcomed && now - c.lastPing >= c.pingEvery) {
      c.lastPing = now;
      this.send(c, { type: 'ping' });
    }
    const timeout = this.options.requestTimeoutMs ?? 10_000;
    const stale = [...c.requests.values()].some((at) => now - at > timeout);
    if (now - c.lastSeen > c.deadAfter || stale) c.ws.terminate();
  }

  private onFrame(c: Conn, f: Frame): void {
    if (typeof f.ref === 'string' || typeof f.ref === 'number') c.requests.delete(String(f.ref));
    switch (f.type) {
      case 'welcome':
        return this.onWelcome(c, f);
      case 'subscribed':
        return this.onSubscribed(c, f);
      case 'unsubscribed':
        return void c.subscribed.delete(f.channel as string);
      case 'resumed':
        this.session = f.session as string;
        this.resumes++;
        c.resuming = false;
        for (const ch of this.options.channels) if (!c.subscribed.has(ch)) this.subscribe(c, ch);
        return this.checkReady(c);
      case 'message':
        return this.onMessage(f as unknown as ReceivedMessage);
      case 'error':
        return this.onError(c, f);
      case 'reconnect':
        return this.onReconnect(c, f);
      default: // pong, and types this client does not know
    }
  }

  private onWelcome(c: Conn, f: Frame): void {
    if (f.protocol !== 'herald.v1') {
      this.errors.push(`protocol ${String(f.protocol)}`);
      this.closed = true; // a protocol this client does not speak: stop for good
      return c.ws.close(1000);
    }
    c.welcomed = true;
    c.welcomeSession = f.session as string;
    if (!c.resuming) this.session = c.welcomeSession;
    this.nodes.push(f.node as string);
    const hb = typeof f.heartbeatMs === 'number' ? f.heartbeatMs : 25_000;
    c.pingEvery = this.options.heartbeatMs ?? hb;
    c.deadAfter = this.options.deadAfterMs ?? 2 * c.pingEvery;
    c.lastPing = Date.now();
    const stableMs = this.options.stableMs ?? 5000;
    c.timers.push(
      setTimeout(() => c === this.conn && this.connected() && (this.backoffAttempt = 0), stableMs),
    );
  }

  private onSubscribed(c: Conn, f: Frame): void {
    const channel = f.channel as string;
    const st = this.chan(channel);
    const sent = c.sentPositions.get(channel);
    c.sentPositions.delete(channel);
    c.subscribed.add(channel);
    if (f.recovered === true && sent) {
      st.epoch = f.epoch as string; // the replay (sent.offset, f.offset] follows
    } else {
      if (sent) this.notRecovered.push({ channel, offset: f.offset as number, epoch: f.epoch as string });
      if (st.epoch !== f.epoch) st.seen.clear();
      st.epoch = f.epoch as string;
      st.offset = f.offset as number;
    }
    this.drain(channel, st);
    this.checkReady(c);
  }

  private checkReady(c: Conn): void {
    if (c !== this.conn || !this.connected()) return;
    this.ready?.resolve();
    this.ready = undefined;
    for (const old of this.retired) void this.shut(old);
    this.retired.clear();
  }

  private onMessage(m: ReceivedMessage): void {
    const st = this.chan(m.channel);
    if (m.epoch !== undefined && st.epoch !== undefined && m.epoch !== st.epoch) {
      this.resetEpoch(st, m.epoch); // the channel restarted while subscribed (5.1)
    }
    const seenId = st.seen.get(m.offset);
    if (seenId === m.id || st.pending.get(m.offset)?.id === m.id) return void this.duplicatesDropped++;
    if (seenId !== undefined) this.resetEpoch(st, m.epoch ?? st.epoch!, m.offset - 1); // same offset, new id (12)
    if (st.offset !== undefined && m.offset <= st.offset) return void this.duplicatesDropped++;
    st.pending.set(m.offset, m);
    this.drain(m.channel, st);
  }

  private resetEpoch(st: ChannelState, epoch: string, offset = 0): void {
    Object.assign(st, { epoch, offset });
    st.seen.clear();
    st.pending.clear();
  }

  /** Delivers pending messages in offset order; a gap left open past the grace resubscribes. */
  private drain(channel: string, st: ChannelState): void {
    for (const o of [...st.pending.keys()]) if (o <= (st.offset ?? 0)) st.pending.delete(o);
    for (let m; (m = st.pending.get((st.offset ?? 0) + 1));) {
      st.pending.delete(m.offset);
      st.offset = m.offset;
      st.seen.set(m.offset, m.id);
      if (st.seen.size > SEEN_KEPT) st.seen.delete(st.seen.keys().next().value!);
      const list = this.delivered.get(channel) ?? [];
      this.delivered.set(channel, list);
      list.push(m);
    }
    clearTimeout(st.gapTimer);
    st.gapTimer = undefined;
    if (st.pending.size === 0) return;
    const resubscribe = (): void => {
      const c = this.conn;
      if (!c?.subscribed.has(channel) || st.pending.size === 0) return;
      st.pending.clear();
      this.send(c, { type: 'unsubscribe', channel });
      this.subscribe(c, channel); // replays from our last offset, or recovered:false
    };
    st.gapTimer = setTimeout(() => this.guard(resubscribe), this.options.gapGraceMs ?? 1000);
  }

  private onError(c: Conn, f: Frame): void {
    const code = String(f.code);
    const channel = typeof f.channel === 'string' ? f.channel : undefined;
    this.errors.push(channel ? `${code} ${channel}` : code);
    if (f.ref !== undefined && f.ref === c.resumeRef) {
      // session_not_found (or any failed resume): this connection's own session, channels one by one
      this.session = c.welcomeSession;
      c.resuming = false;
      for (const ch of this.options.channels) this.subscribe(c, ch); // with positions (5.4)
    } else if (channel && code === 'already_subscribed') {
      c.subscribed.add(channel);
      this.checkReady(c);
    } else if (channel && !c.resuming && f.retryable === true && this.options.channels.includes(channel)) {
      const retry = (): void =>
        void (c === this.conn && !c.subscribed.has(channel) && this.subscribe(c, channel));
      c.timers.push(setTimeout(() => this.guard(retry), this.backoff(false)));
    } // a channel refused during resume is missing from resumed.channels: the resumed handler subscribes it
  }

  private onReconnect(c: Conn, f: Frame): void {
    const afterMs = typeof f.afterMs === 'number' ? f.afterMs : 0;
    const delay = afterMs + Math.random() * (this.options.minBackoffMs ?? 100);
    c.timers.push(
      setTimeout(() => {
        if (this.closed || c !== this.conn) return;
        c.retired = true; // make before break: closed once the new one is ready
        this.retired.add(c);
        if (typeof f.url === 'string') this.nextUrl = f.url;
        void this.connect();
      }, delay),
    );
  }

  private onClose(c: Conn, code: number): void {
    this.closeCodes.push(code);
    for (const t of c.timers) clearTimeout(t);
    this.retired.delete(c);
    if (c.retired || c !== this.conn) return;
    if (this.closed || FINAL.has(code)) {
      this.closed = true;
      this.ready?.reject(new Error(`closed for good with ${code}`));
      return;
    }
    this.reconnectLater(HARD.has(code));
  }

  private backoff(hard: boolean): number {
    const max = this.options.maxBackoffMs ?? 2000;
    if (hard) return max / 2 + (Math.random() * max) / 2;
    const cap = Math.min(max, (this.options.minBackoffMs ?? 100) * 2 ** this.backoffAttempt++);
    return Math.random() * cap;
  }

  private reconnectLater(hard: boolean): void {
    const delay = this.backoff(hard);
    const hold = this.hold;
    this.hold = undefined;
    this.reconnectTimer = setTimeout(
      () => void (hold ?? Promise.resolve()).then(() => this.connect()),
      delay,
    );
  }
}
