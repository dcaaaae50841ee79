/**
 * The attacking side of `npm run abuse` (run.ts forks it): every attack of test/security at once,
 * each in loops until the deadline, against one node. It holds an ordinary user account (a valid
 * token for its own users) but no API key. It reports, per attack, the answers it got (close codes,
 * error codes, HTTP statuses), and every answer that carried something a client must never see (a
 * stack trace, a file path, an internal error).
 *
 * Input (environment): ABUSE_URL (http://host:port of the node), ABUSE_SECONDS, ABUSE_SECRET (the
 * node's JWT secret, for the attacker's own users' tokens), ABUSE_KEY (an API key with the publish
 * scope only: a buggy or compromised backend, whose bodies reach the parsers). Output: one `report`
 * IPC message.
 */
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { MAX_REF_LENGTH } from '../../shared/protocol/codec.js';
import { mintToken, unsignedToken } from '../helpers/tokens.js';

const base = process.env.ABUSE_URL ?? '';
const seconds = Number(process.env.ABUSE_SECONDS ?? 60);
const secret = process.env.ABUSE_SECRET ?? '';
const publishKey = `Bearer ${process.env.ABUSE_KEY ?? ''}`;
const wsUrl = `${base.replace(/^http/, 'ws')}/ws`;
const { hostname, port } = new URL(base);
const deadline = Date.now() + seconds * 1000;
const running = (): boolean => Date.now() < deadline;

/** Per attack: answer → count. */
const answers = new Map<string, Map<string, number>>();
/** Answers that leaked internals, with the attack that got them (at most 20 kept). */
const leaks: string[] = [];
const LEAK = /\n\s+at |node_modules|\.[jt]s:\d+|stack|ECONNREFUSED|TypeError|ReferenceError/;

function count(attack: string, answer: string): void {
  const byAnswer = answers.get(attack) ?? new Map<string, number>();
  byAnswer.set(answer, (byAnswer.get(answer) ?? 0) + 1);
  answers.set(attack, byAnswer);
}

function inspect(attack: string, text: string): void {
  if (LEAK.test(text) && leaks.length < 20) leaks.push(`${attack}: ${text.slice(0, 300)}`);
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const token = (user: string): Promise<string> => mintToken(user, { secret });

/**
 * Opens a WebSocket, runs `act` once it is open, and resolves with how it ended: the close code, or
 * the HTTP status its upgrade was refused with. Every text frame is checked for leaks.
 */
function session(
  attack: string,
  url: string,
  act: (ws: WebSocket) => void,
  options: { headers?: Record<string, string>; maxMs?: number } = {},
): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: options.headers, autoPong: true });
    let done = false;
    const finish = (answer: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      count(attack, answer);
      resolve(answer);
    };
    const timer = setTimeout(() => {
      ws.terminate();
      finish('still open when its turn ended');
    }, options.maxMs ?? 15_000);
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (binary) return;
      const text = data.toString('utf8');
      inspect(attack, text);
      if (text.includes('"type":"error"')) {
        const code = /"code":"([a-z_]+)"/.exec(text)?.[1] ?? 'error without code';
        count(attack, `error ${code}`);
      }
    });
    ws.on('open', () => {
      try {
        act(ws);
      } catch {
        // the socket closed under the attack
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => inspect(attack, body));
      finish(`HTTP ${res.statusCode}`);
      ws.terminate();
    });
    ws.on('close', (code) => finish(`close ${code}`));
    ws.on('error', () => undefined); // its close follows
  });
}

/** Runs `attack` `parallel` times at once, each in a loop until the deadline. */
async function loop(parallel: number, attack: (i: number) => Promise<unknown>): Promise<void> {
  await Promise.all(
    Array.from({ length: parallel }, async (_, i) => {
      while (running()) {
        await attack(i).catch(() => undefined);
        await pause(10);
      }
    }),
  );
}

// ---- the attacks -------------------------------------------------------------------------------

async function forgedTokens(i: number): Promise<void> {
  const good = await token(`forger-${i}`);
  const [header, , signature] = good.split('.');
  const tampered = `${header}.${Buffer.from(JSON.stringify({ sub: 'victim' })).toString('base64url')}.${signature}`;
  const expired = await mintToken(`forger-${i}`, { secret, expiresIn: Math.floor(Date.now() / 1000) - 60 });
  const wrongKey = await mintToken('victim', { secret: 'not-the-secret-not-the-secret-not-it!' });
  for (const [name, t] of [
    ['alg none', unsignedToken('victim')],
    ['tampered', tampered],
    ['expired', expired],
    ['wrong key', wrongKey],
    ['junk', 'x.y.z'],
  ] as const)
    await session(`jwt: ${name}`, `${wsUrl}?token=${encodeURIComponent(t)}`, () => undefined);
}

async function frameFlood(i: number): Promise<void> {
  const t = await token(`flooder-${i}`);
  await session(`flood: frames`, `${wsUrl}?token=${t}`, (ws) => {
    for (let k = 0; k < 500; k++) ws.send(JSON.stringify({ type: 'ping', ref: k }));
  });
}

async function subscribeFlood(i: number): Promise<void> {
  const t = await token(`sub-flooder-${i}`);
  await session(`flood: subscribes`, `${wsUrl}?token=${t}`, (ws) => {
    for (let k = 0; k < 300; k++)
      ws.send(JSON.stringify({ type: 'subscribe', channel: 'promotions', ref: k }));
  });
}

async function pingFlood(i: number): Promise<void> {
  const t = await token(`pinger-${i}`);
  await session(`flood: websocket pings`, `${wsUrl}?token=${t}`, (ws) => {
    for (let k = 0; k < 1_000; k++) ws.ping(Buffer.alloc(125));
  });
}

async function badFrames(i: number): Promise<void> {
  const t = await token(`junk-${i}`);
  const url = `${wsUrl}?token=${t}`;
  await session('frames: oversized', url, (ws) => ws.send('x'.repeat(70_000)));
  await session('frames: invalid utf-8', url, (ws) => ws.send(Buffer.from([0xc3, 0x28]), { binary: false }));
  await session('frames: fragment flood', url, (ws) => {
    for (let k = 0; k < 500; k++) ws.send('', { fin: false });
  });
  await session(
    'frames: junk, binary, hostile channels',
    url,
    (ws) => {
      const frames = [
        '{not json',
        JSON.stringify({ type: 'subscribe', channel: 'user:victim' }),
        JSON.stringify({ type: 'subscribe', channel: 'user:../victim' }),
        JSON.stringify({ type: 'subscribe', channel: `user:${'a'.repeat(10_000)}` }),
        JSON.stringify({ type: 'subscribe', channel: 'user:victim\u0000' }),
        '{"type":"ping","__proto__":{"polluted":true}}',
        JSON.stringify({ type: 'publish', channel: 'promotions' }),
      ];
      for (const frame of frames) ws.send(frame);
      ws.send(Buffer.from([1, 2, 3]), { binary: true });
      setTimeout(() => ws.close(), 200);
    },
    { maxMs: 3_000 },
  );
}

/** Sockets that never authenticate: held until the node closes them (auth timeout). */
async function neverAuthenticate(): Promise<void> {
  await session('never authenticates', wsUrl, () => undefined, { maxMs: 30_000 });
}

/** Authenticated, subscribed to promotions, and never reading: the node must close them 1013. */
async function neverRead(i: number): Promise<void> {
  const t = await token(`sleeper-${i}`);
  await session(
    'never reads',
    `${wsUrl}?token=${t}`,
    (ws) => {
      ws.send(JSON.stringify({ type: 'subscribe', channel: 'promotions' }));
      const socket = (ws as unknown as { _socket: Socket })._socket;
      setTimeout(() => socket.pause(), 100);
      // Allowed frames whose replies are never read.
      const timer = setInterval(() => {
        if (ws.readyState !== WebSocket.OPEN) return clearInterval(timer);
        ws.send(JSON.stringify({ type: 'ping', ref: 'r'.repeat(MAX_REF_LENGTH) }));
        ws.ping(Buffer.alloc(125));
      }, 25);
      ws.once('close', () => clearInterval(timer));
      // Read again near the deadline, so the close frame (1013) is seen.
      setTimeout(() => socket.resume(), Math.max(0, deadline - Date.now() - 2_000));
    },
    { maxMs: seconds * 1000 },
  );
}

async function connectionFlood(i: number): Promise<void> {
  const t = await token(`crowd-${i % 3}`);
  await Promise.all(
    Array.from({ length: 40 }, () =>
      session(
        'flood: one user, many connections',
        `${wsUrl}?token=${t}`,
        (ws) => setTimeout(() => ws.close(), 500),
        {
          maxMs: 5_000,
        },
      ),
    ),
  );
}

async function foreignOrigin(): Promise<void> {
  const t = await token('origin-user');
  await session(`handshake: foreign origin`, `${wsUrl}?token=${t}`, (ws) => ws.close(), {
    headers: { origin: `https://evil.example/${'x'.repeat(2_000)}` },
  });
}

/** Raw HTTP on a TCP socket: `write` is called once connected; resolves with the status line's code. */
function raw(attack: string, write: (socket: Socket) => void, maxMs = 30_000): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    const timer = setTimeout(() => socket.destroy(), maxMs);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (answer += d));
    socket.on('connect', () => write(socket));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      inspect(attack, answer);
      count(attack, /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 'closed without an answer');
      resolve();
    });
  });
}

async function slowloris(): Promise<void> {
  await raw('handshake: slowloris headers', (socket) => {
    socket.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
    const drip = setInterval(() => {
      if (!running()) socket.destroy();
      else if (socket.writable) socket.write(`X-Drip: ${Date.now()}\r\n`);
    }, 1_000);
    socket.once('close', () => clearInterval(drip));
  });
}

async function manyHeaders(): Promise<void> {
  const headers = Array.from({ length: 3_000 }, (_, k) => `X-H${k}: v`).join('\r\n');
  await raw('handshake: thousands of headers', (socket) =>
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${headers}\r\n\r\n`,
    ),
  );
}

async function rest(): Promise<void> {
  const deep = `{"channel":"promotions","event":"e","data":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
  const withKey = { authorization: publishKey };
  const unheard = (data: number): string =>
    JSON.stringify({ channel: 'promotions:abuse-unheard', event: 'e', data });
  const requests: [string, string, RequestInit][] = [
    ['rest: no key', '/v1/publish', { method: 'POST', body: '{}' }],
    [
      'rest: wrong key',
      '/v1/publish',
      { method: 'POST', body: '{}', headers: { authorization: 'Bearer guess' } },
    ],
    ['rest: admin route, publish key', '/v1/cluster', { headers: withKey }],
    ['rest: broken json', '/v1/publish', { method: 'POST', body: '{"channel":', headers: withKey }],
    [
      'rest: oversized body',
      '/v1/publish',
      { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024), headers: withKey },
    ],
    ['rest: deep nesting', '/v1/publish', { method: 'POST', body: deep, headers: withKey }],
    ['rest: __proto__', '/v1/publish', { method: 'POST', body: '{"__proto__":{"a":1}}', headers: withKey }],
    [
      'rest: schema violation',
      '/v1/publish',
      { method: 'POST', body: '{"channel":"admin:all","event":1}', headers: withKey },
    ],
    [
      'rest: long path',
      `/v1/orders/${'o'.repeat(2_000)}/events`,
      { method: 'POST', body: '{}', headers: withKey },
    ],
    [
      'rest: history past 2^53',
      '/v1/channels/promotions/history?since=99999999999999999999',
      { headers: withKey },
    ],
    // A channel nobody subscribes to: these two publish for real when the key is right.
    [
      'rest: idempotency key too long',
      '/v1/publish',
      { method: 'POST', body: unheard(1), headers: { ...withKey, 'idempotency-key': 'k'.repeat(300) } },
    ],
    [
      'rest: idempotency key reused',
      '/v1/publish',
      { method: 'POST', body: unheard(Math.random()), headers: { ...withKey, 'idempotency-key': 'reused' } },
    ],
  ];
  for (const [attack, path, init] of requests) {
    const res = await fetch(`${base}${path}`, {
      ...init,
      headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
    }).catch(() => undefined);
    if (res === undefined) {
      // An oversized upload: the node answers 413 and closes while the body is still being sent.
      count(attack, 'connection closed during the upload');
      continue;
    }
    const text = await res.text();
    inspect(attack, text);
    const code = /"code":"([a-z_]+)"/.exec(text)?.[1];
    count(attack, `${res.status}${code === undefined ? ' (no code)' : ` ${code}`}`);
  }
}

async function main(): Promise<void> {
  await Promise.all([
    loop(2, forgedTokens),
    loop(4, frameFlood),
    loop(2, subscribeFlood),
    loop(4, pingFlood),
    loop(2, badFrames),
    loop(200, neverAuthenticate),
    loop(50, neverRead),
    loop(2, connectionFlood),
    loop(1, foreignOrigin),
    loop(100, slowloris),
    loop(1, manyHeaders),
    loop(4, rest),
  ]);
  const report = {
    answers: Object.fromEntries(
      [...answers].map(([attack, byAnswer]) => [attack, Object.fromEntries(byAnswer)]),
    ),
    leaks,
  };
  process.send?.({ kind: 'report', report });
  process.exit(0);
}

void main();
