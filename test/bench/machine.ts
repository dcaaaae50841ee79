/**
 * What the machine itself does to latency, measured beside the systems: a probe process that only
 * sleeps on a timer and records how late it wakes, and the kernel's DAMON monitor, whose sampling
 * bursts take a core for tens of milliseconds on some VMs (docs/benchmark.md, scenario 8). Neither is
 * compared; both say how far a latency figure of this run can fall at all.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { track } from './cleanup.js';
import { summarize } from './clients/tally.js';
import type { LatencySummary } from './generator-protocol.js';

/** The probe's timer period: 200 wake-ups a second, little next to the systems' own. */
const PERIOD_MS = 5;

/**
 * The probe: says `ready`, then sleeps PERIOD_MS at a time and records how late each timer fired,
 * until its stdin ends; then prints the delays (ms) as a JSON array and exits.
 */
const PROBE = `
const period = ${PERIOD_MS};
const late = [];
let due = performance.now() + period;
let timer;
const tick = () => {
  const now = performance.now();
  late.push(Math.max(0, now - due));
  due = now + period;
  timer = setTimeout(tick, period);
};
timer = setTimeout(tick, period);
process.stdin.resume();
process.stdin.on('end', () => {
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(late));
});
process.stdout.write('ready\\n');
`;

/**
 * Starts the probe and resolves once it measures (its own start-up is not in the phase it watches);
 * the function it resolves with stops it and resolves with the delays seen meanwhile, summarized like
 * the deliveries' latencies (ms).
 */
export async function startWakeProbe(): Promise<() => Promise<LatencySummary>> {
  const child = spawn(process.execPath, ['-e', PROBE], { stdio: ['pipe', 'pipe', 'inherit'] });
  track(child);
  let output = '';
  const result = new Promise<LatencySummary>((resolve, reject) => {
    child.once('error', reject);
    // 'close', not 'exit': stdout has been read to its end.
    child.once('close', (code) => {
      const json = output.slice(output.indexOf('\n') + 1);
      if (code === 0 && output.startsWith('ready\n'))
        resolve(summarize(Float64Array.from(JSON.parse(json) as number[])));
      else reject(new Error(`wake-up probe exited with ${code}: ${output.slice(0, 200)}`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('\n')) resolve();
    });
    result.catch(reject); // exited (or failed to start) before it said ready
  });
  return () => {
    child.stdin.end();
    return result;
  };
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
