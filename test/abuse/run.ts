/**
 * `npm run abuse`: every attack of test/security at once against one node (attacker.ts, a forked
 * process) for ABUSE_SECONDS (default 60), while a well-behaved client on the same node receives
 * every message of its own channel and the promotions. It prints the node's resident memory (at the
 * start, the peak during the attack, and ABUSE_SETTLE_SECONDS after it, default 30), the good client's
 * latency p50/p99, what it lost, and each attack's answers; it exits 1 when a documented bound fails:
 *  - memory growth during the attack ≤ 150 MB, and back within 60 MB of the start after settling;
 *  - good client latency p99 ≤ 250 ms; nothing lost or duplicated; the node alive throughout;
 *  - no answer to any attacker carried a stack trace or file path.
 * CI runs it at a short length (test/security/abuse.test.ts). The node runs dist/ (npm run build),
 * in cluster mode on the machine's Redis and RabbitMQ, with default limits.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { cleanUp } from '../helpers/node-process.js';
import { AMQP_URL, REDIS_URL } from '../helpers/backends.js';
import { mintToken, TEST_SECRET } from '../helpers/tokens.js';
import { killAndWait, ROOT, startServer } from '../bench/systems/server-process.js';

const SECONDS = Number(process.env.ABUSE_SECONDS ?? 60);
const SETTLE_SECONDS = Number(process.env.ABUSE_SETTLE_SECONDS ?? 30);
const WARMUP_MS = 5_000;
/**
 * ABUSE_P99_MS loosens the latency bound for the short run inside `npm test`, where other test files
 * run beside it on the same cores: there it only catches a stall; the 250 ms bound is the standalone run's.
 */
const BOUNDS = { growthMb: 150, settledMb: 60, p99Ms: Number(process.env.ABUSE_P99_MS ?? 250) };
/** One user event every 50 ms, and a 4 KB promotion every 100 ms (what the non-readers fill up on). */
const USER_EVERY_MS = 50;
const PROMOTION_EVERY_MS = 100;

const key = `abuse-${randomBytes(12).toString('hex')}`;
/** The attacker's API key: publish scope only (a buggy or compromised backend). */
const attackerKey = `attacker-${randomBytes(12).toString('hex')}`;
const tag = randomBytes(4).toString('hex');
const nodeId = `abuse-${tag}`;
const env = {
  NODE_ENV: 'production',
  HOST: '127.0.0.1',
  PORT: '0',
  NODE_ID: nodeId,
  JWT_SECRET: TEST_SECRET,
  API_KEYS: `shop:${key}:publish,rogue:${attackerKey}:publish`,
  ALLOWED_ORIGINS: 'https://shop.example.com',
  REDIS_URL,
  AMQP_URL,
  REDIS_PREFIX: `herald-abuse-${tag}:`,
  AMQP_EXCHANGE: `herald-abuse-${tag}`,
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN) / 1024;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<number> {
  const node = await startServer(`herald node ${nodeId}`, [`${ROOT}dist/services/main.js`], env, (line) =>
    line.includes('"herald node listening"') ? (JSON.parse(line) as { port: number }).port : undefined,
  );
  const base = `http://127.0.0.1:${node.port}`;
  let nodeDied = false;
  void node.exited.then(() => (nodeDied = true));
  try {
    // ---- the good client and its publisher ----
    const received = new Map<number, number>(); // i → times received
    const latencies: number[] = [];
    let promotionsReceived = 0;
    const good = new WebSocket(`${base.replace('http', 'ws')}/ws?token=${await mintToken('good')}`, {
      headers: { origin: 'https://shop.example.com' },
    });
    let goodClosed: number | undefined;
    good.on('close', (code) => (goodClosed = code));
    good.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as {
        type: string;
        channel?: string;
        data?: { i: number; t: number };
      };
      if (frame.type !== 'message') return;
      if (frame.channel === 'promotions') promotionsReceived++;
      else if (frame.data !== undefined) {
        latencies.push(Date.now() - frame.data.t);
        received.set(frame.data.i, (received.get(frame.data.i) ?? 0) + 1);
      }
    });
    await new Promise<void>((resolve, reject) => {
      good.once('message', () => resolve());
      good.once('error', reject);
    });
    for (const channel of ['user:good', 'promotions'])
      good.send(JSON.stringify({ type: 'subscribe', channel }));

    let sent = 0;
    let promotionsSent = 0;
    const publishFailures: string[] = [];
    let publishing = true;
    const post = async (body: object): Promise<boolean> => {
      const res = await fetch(`${base}/v1/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).catch((err: Error) => err);
      if (res instanceof Error || res.status !== 202) {
        if (publishFailures.length < 10)
          publishFailures.push(res instanceof Error ? res.message : `HTTP ${res.status}`);
        return false;
      }
      return true;
    };
    const userLoop = (async () => {
      for (let i = 0; publishing; i++) {
        const at = Date.now();
        if (await post({ channel: 'user:good', event: 'probe', data: { i, t: Date.now() } })) sent = i + 1;
        else break;
        await sleep(Math.max(0, USER_EVERY_MS - (Date.now() - at)));
      }
    })();
    const promotionLoop = (async () => {
      const pad = 'p'.repeat(4_000);
      while (publishing) {
        if (await post({ channel: 'promotions', event: 'promo', data: { pad, t: Date.now() } }))
          promotionsSent++;
        await sleep(PROMOTION_EVERY_MS);
      }
    })();

    // ---- memory samples ----
    const samples: { at: number; mb: number }[] = [];
    const sampler = setInterval(() => {
      if (!nodeDied) samples.push({ at: Date.now(), mb: rssMb(node.pid) });
    }, 250);

    await sleep(WARMUP_MS);
    const startMb = Math.max(...samples.slice(-8).map((s) => s.mb));
    const attackStart = Date.now();
    console.log(`abuse: node ${nodeId} at ${base}, ${startMb.toFixed(0)} MB; attacking for ${SECONDS} s`);

    // ---- the attack ----
    const attacker = fork(new URL('./attacker.ts', import.meta.url).pathname, [], {
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        ABUSE_URL: base,
        ABUSE_SECONDS: String(SECONDS),
        ABUSE_SECRET: TEST_SECRET,
        ABUSE_KEY: attackerKey,
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const report = await new Promise<{ answers: Record<string, Record<string, number>>; leaks: string[] }>(
      (resolve, reject) => {
        attacker.on(
          'message',
          (m: { kind: string; report: never }) => m.kind === 'report' && resolve(m.report),
        );
        attacker.on('exit', (code) => reject(new Error(`attacker exited (${code}) without a report`)));
      },
    );
    const attackEnd = Date.now();
    publishing = false;
    await Promise.all([userLoop, promotionLoop]);
    // Every message sent must arrive (bounded wait for the last ones).
    for (
      let waited = 0;
      waited < 10_000 && (received.size < sent || promotionsReceived < promotionsSent);
      waited += 100
    )
      await sleep(100);
    const peakMb = Math.max(
      ...samples.filter((s) => s.at >= attackStart && s.at <= attackEnd).map((s) => s.mb),
    );
    console.log(`abuse: attack over; settling for ${SETTLE_SECONDS} s`);
    await sleep(SETTLE_SECONDS * 1000);
    clearInterval(sampler);
    const settledMb = nodeDied ? NaN : rssMb(node.pid);
    good.close();

    // ---- report ----
    const sorted = [...latencies].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    const missing = Array.from({ length: sent }, (_, i) => i).filter((i) => !received.has(i)).length;
    const duplicates = [...received.values()].filter((n) => n > 1).length;
    console.log('\nanswers per attack:');
    for (const [attack, byAnswer] of Object.entries(report.answers).sort())
      console.log(
        `  ${attack.padEnd(40)} ${Object.entries(byAnswer)
          .sort((a, b) => b[1] - a[1])
          .map(([answer, n]) => `${answer} ×${n}`)
          .join(', ')}`,
      );
    const checks: [string, boolean, string][] = [
      ['node alive throughout', !nodeDied, nodeDied ? 'the node exited' : 'yes'],
      [
        `memory growth during the attack ≤ ${BOUNDS.growthMb} MB`,
        peakMb - startMb <= BOUNDS.growthMb,
        `start ${startMb.toFixed(0)} MB, peak ${peakMb.toFixed(0)} MB (+${(peakMb - startMb).toFixed(0)})`,
      ],
      [
        `memory ${SETTLE_SECONDS} s after ≤ start + ${BOUNDS.settledMb} MB`,
        settledMb - startMb <= BOUNDS.settledMb,
        `settled ${settledMb.toFixed(0)} MB (+${(settledMb - startMb).toFixed(0)})`,
      ],
      [
        `good client p99 ≤ ${BOUNDS.p99Ms} ms`,
        p99 <= BOUNDS.p99Ms,
        `p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms over ${latencies.length} messages`,
      ],
      [
        'good client lost nothing, got nothing twice, stayed connected',
        sent > 0 &&
          missing === 0 &&
          duplicates === 0 &&
          promotionsReceived === promotionsSent &&
          goodClosed === undefined &&
          publishFailures.length === 0,
        `sent ${sent}, missing ${missing}, duplicates ${duplicates}, promotions ${promotionsReceived}/${promotionsSent}` +
          `${goodClosed === undefined ? '' : `, closed ${goodClosed}`}` +
          `${publishFailures.length === 0 ? '' : `, publish failures: ${publishFailures.join('; ')}`}`,
      ],
      [
        'no stack trace or file path in any answer',
        report.leaks.length === 0,
        report.leaks.length === 0 ? 'none' : report.leaks.join('\n    '),
      ],
    ];
    console.log(`\nbounds (${SECONDS} s attack, default limits):`);
    for (const [what, ok, detail] of checks) console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${what}: ${detail}`);
    return checks.every(([, ok]) => ok) ? 0 : 1;
  } finally {
    await killAndWait(node);
    await cleanUp(env.REDIS_PREFIX, env.AMQP_EXCHANGE, [nodeId]);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
