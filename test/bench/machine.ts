/**
 * What the machine itself does to latency, measured beside the systems: a probe process that only
 * sleeps on a timer and records how late it wakes, and the kernel's DAMON monitor, whose sampling
 * bursts take a core for tens of milliseconds on some VMs (docs/benchmark.md, scenario 8). Neither is
 * compared; both say how far a latency figure of this run can fall at all.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { track } from './cleanup.js';

/** How late an idle process's timer fired, over one phase (ms). */
export interface WakeDelay {
  samples: number;
  p50: number;
  p99: number;
  max: number;
}

/** The probe's timer period: 200 wake-ups a second, little next to the systems' own. */
const PERIOD_MS = 5;

/** The probe: sleeps PERIOD_MS at a time for argv[1] seconds, then prints its delays' quantiles. */
const PROBE = `
const period = ${PERIOD_MS};
const end = performance.now() + Number(process.argv[1]) * 1000;
const late = [];
let due = performance.now() + period;
const tick = () => {
  const now = performance.now();
  late.push(Math.max(0, now - due));
  if (now >= end) {
    late.sort((a, b) => a - b);
    const q = (p) => late[Math.min(late.length - 1, Math.floor(p * late.length))];
    process.stdout.write(JSON.stringify({ samples: late.length, p50: q(0.5), p99: q(0.99), max: late[late.length - 1] }));
    return;
  }
  due = now + period;
  setTimeout(tick, period);
};
setTimeout(tick, period);
`;

/** Starts the probe for `seconds`; the promise resolves with its delays once it has run that long. */
export function wakeProbe(seconds: number): Promise<WakeDelay> {
  const child = spawn(process.execPath, ['-e', PROBE, String(seconds)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  track(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(JSON.parse(output) as WakeDelay);
      else reject(new Error(`wake-up probe exited with ${code}: ${output.slice(0, 200)}`));
    });
  });
}

/**
 * The DAMON monitors running on this machine (Linux sysfs, `root`), e.g. "kdamond 0: paddr, sampling
 * every 500 ms"; empty when there are none or sysfs does not say.
 */
export function damonMonitors(root = '/sys/kernel/mm/damon/admin/kdamonds'): string[] {
  const read = (path: string): string | undefined => {
    try {
      return readFileSync(path, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  let entries: string[];
  try {
    entries = readdirSync(root).filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  return entries
    .filter((id) => read(`${root}/${id}/state`) === 'on')
    .map((id) => {
      const context = `${root}/${id}/contexts/0`;
      const ops = read(`${context}/operations`) ?? '?';
      const sampleUs = Number(read(`${context}/monitoring_attrs/intervals/sample_us`));
      const every = Number.isFinite(sampleUs) ? `, sampling every ${sampleUs / 1000} ms` : '';
      return `kdamond ${id}: ${ops}${every}`;
    });
}
