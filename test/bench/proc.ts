/** Process figures from /proc: CPU time (utime + stime, all threads) and resident memory. */
import { readdirSync, readFileSync } from 'node:fs';

const CLK_TCK = 100;

/** CPU time used so far by process `pid` (user + system, all threads), in ms; 10 ms resolution. */
export function cpuMs(pid: number): number {
  return statCpuMs(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** utime + stime of a `/proc/…/stat` line, in ms (the command name may hold spaces and parentheses). */
function statCpuMs(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/**
 * CPU time used so far by process `pid`'s main thread and by its other threads (the process total less
 * the main thread's, so threads that have ended count too), in ms. In a Node.js process the others are
 * V8's helpers (optimizing compiler, GC) and libuv's pool: their share shows how much of a phase went to
 * compiling and collecting rather than running JavaScript.
 */
export function threadCpuMs(pid: number): { main: number; others: number } {
  const main = statCpuMs(readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8'));
  return { main, others: Math.max(0, cpuMs(pid) - main) };
}

/** Resident set size of process `pid`, in KiB (VmRSS). */
export function rssKib(pid: number): number {
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

/**
 * Pids of the machine's Redis and RabbitMQ servers (shared services: their CPU is informational), or
 * of the servers named by `commands` only.
 */
export function infraPids(commands: readonly string[] = ['redis-server', 'beam.smp']): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (commands.includes(comm)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** CPU meters over a set of processes: `start()` then `stop()` gives the ms each group used. */
export class CpuMeter {
  private readonly started: number[];
  private readonly wall: number;

  constructor(private readonly groups: Record<string, number[]>) {
    this.started = Object.values(groups).map(totalCpuMsSafe);
    this.wall = performance.now();
  }

  /** CPU ms per group since construction, and the wall-clock ms. */
  read(): { wallMs: number; cpuMs: Record<string, number> } {
    const names = Object.keys(this.groups);
    const cpu: Record<string, number> = {};
    names.forEach((name, i) => (cpu[name] = totalCpuMsSafe(this.groups[name]!) - this.started[i]!));
    return { wallMs: performance.now() - this.wall, cpuMs: cpu };
  }
}

function totalCpuMsSafe(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += cpuMs(pid);
    } catch {
      // a killed node: its CPU until death is lost; the storm reads only the survivor
    }
  }
  return sum;
}
