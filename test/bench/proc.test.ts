import { describe, expect, it } from 'vitest';
import { cpuMs, threadCpuMs } from './proc.js';
import { callsSince, commandCalls } from './redis-stats.js';

describe('the benchmarks’ process and Redis readings', () => {
  it('when the main thread works, then its CPU time grows, and the threads together stay within the process total', () => {
    const before = threadCpuMs(process.pid);
    const started = performance.now();
    let spin = 0;
    while (performance.now() - started < 150) spin += Math.sqrt(spin + 1);
    const after = threadCpuMs(process.pid);
    expect(spin).toBeGreaterThan(0);
    // 150 ms of wall time on the main thread; a busy machine may take some of it away, not most.
    expect(after.main - before.main).toBeGreaterThanOrEqual(50);
    expect(after.others).toBeGreaterThanOrEqual(before.others);
    // The process total also holds exited threads; the kernel adjusts each reading on its own (10 ms ticks).
    expect(after.main + after.others).toBeLessThanOrEqual(cpuMs(process.pid) + 100);
  });

  it('when INFO commandstats is read twice, then the calls between are counted per command, including subcommands', () => {
    const first = commandCalls(
      [
        '# Commandstats',
        'cmdstat_evalsha:calls=10,usec=500,usec_per_call=50.00,rejected_calls=0,failed_calls=0',
        'cmdstat_hset:calls=30,usec=60,usec_per_call=2.00,rejected_calls=0,failed_calls=0',
        'cmdstat_client|setname:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0',
        'used_cpu_sys:1.0',
      ].join('\r\n'),
    );
    expect(first).toEqual(
      new Map([
        ['evalsha', 10],
        ['hset', 30],
        ['client|setname', 1],
      ]),
    );
    const second = new Map([
      ['evalsha', 13],
      ['hset', 30],
      ['client|setname', 1],
      ['hget', 4],
    ]);
    expect(callsSince(first, second)).toEqual(
      new Map([
        ['evalsha', 3],
        ['hget', 4],
      ]),
    );
  });
});
