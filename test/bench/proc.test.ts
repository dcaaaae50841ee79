import { describe, expect, it } from 'vitest';
import { cpuMs, threadCpuMs } from './proc.js';

describe('the benchmarks’ process readings', () => {
  // Vitest runs this file in a forked process, on its main thread: the spin below is that thread's.
  it('when the main thread works, then its CPU time grows, and main plus others is the process total', () => {
    const before = threadCpuMs(process.pid);
    const started = performance.now();
    let spin = 0;
    while (performance.now() - started < 150) spin += Math.sqrt(spin + 1);
    const after = threadCpuMs(process.pid);
    const total = cpuMs(process.pid);
    expect(spin).toBeGreaterThan(0);
    // 150 ms of wall time on the main thread; a busy machine may take some of it away, not most.
    expect(after.main - before.main).toBeGreaterThanOrEqual(50);
    expect(after.others).toBeGreaterThanOrEqual(0);
    // Read a moment apart, in 10 ms ticks.
    expect(Math.abs(after.main + after.others - total)).toBeLessThanOrEqual(20);
  });
});
