/**
 * Scenario 9: the REST publish rate of one Herald node in cluster mode, measured by `wrk` (Debian
 * package, installed here when missing): `connections` connections, one message per request, each to
 * another `user:` channel: of users connected nowhere (stored only), then of the connected bench
 * clients (stored and delivered). Herald only (Socket.IO has no REST publish).
 */
import { execFileSync, spawn } from 'node:child_process';
import { track } from '../cleanup.js';
import { CpuMeter } from '../proc.js';
import type { WrkResult } from '../results.js';
import { ROOT } from '../systems/server-process.js';

/** Offline users (stored only), or connected bench clients (delivered): see its header. */
const SCRIPT = `${ROOT}test/bench/wrk/publish.lua`;

/** Installs the Debian package `wrk` when it is not on the PATH (apt-get; via sudo when not root). */
export function ensureWrk(): void {
  if (onPath('wrk')) return;
  console.log('wrk is missing: installing the Debian package');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const apt = (...args: string[]): void => {
    const [cmd, ...rest] = [...sudo, 'apt-get', ...args];
    execFileSync(cmd!, rest, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  };
  try {
    apt('install', '-y', '-q', 'wrk');
  } catch {
    apt('update', '-q');
    apt('install', '-y', '-q', 'wrk');
  }
  if (!onPath('wrk')) throw new Error('wrk is still missing after apt-get install wrk');
}

function onPath(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * `onlineUsers`: publish to the user channels of that many connected bench clients (bench-0 …)
 * instead of to users connected nowhere.
 */
export async function wrkPublishRate(
  url: string,
  pid: number,
  publishKey: string,
  connections: number,
  seconds: number,
  onlineUsers?: number,
): Promise<WrkResult> {
  const meter = new CpuMeter({ node: [pid] });
  const child = spawn(
    'wrk',
    [
      '-t',
      '2',
      '-c',
      String(connections),
      '-d',
      `${seconds}s`,
      '--latency',
      '-s',
      SCRIPT,
      `${url}/v1/publish`,
    ],
    {
      env: { ...process.env, BENCH_PUBLISH_KEY: publishKey, BENCH_WRK_USERS: String(onlineUsers ?? 0) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  track(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const { wallMs, cpuMs } = meter.read();
  if (code !== 0) throw new Error(`wrk exited ${code}:\n${output}`);
  return parseWrk(output, connections, cpuMs.node! / wallMs);
}

function parseWrk(output: string, connections: number, nodeCoreShare: number): WrkResult {
  const total = /(\d+) requests in ([\d.]+)(ms|s|m)/.exec(output);
  if (!total) throw new Error(`cannot read wrk's output:\n${output}`);
  const unit = { ms: 0.001, s: 1, m: 60 }[total[3] as 'ms' | 's' | 'm'];
  const seconds = Number(total[2]) * unit;
  const requests = Number(total[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    connections,
    seconds,
    requests,
    non2xx,
    socketErrors,
    messagesPerSecond: (requests - non2xx) / seconds,
    latencyP50Ms: wrkMs(/^\s+50%\s+(\S+)$/m.exec(output)?.[1]),
    latencyP99Ms: wrkMs(/^\s+99%\s+(\S+)$/m.exec(output)?.[1]),
    nodeCorePercent: nodeCoreShare * 100,
  };
}

/** wrk's durations ("812.00us", "3.41ms", "1.20s") in ms. */
function wrkMs(text: string | undefined): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '');
  if (!match) return NaN;
  return Number(match[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[match[2] as 'us' | 'ms' | 's' | 'm'];
}
