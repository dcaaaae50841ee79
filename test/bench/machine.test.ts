import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { damonMonitors, startWakeProbe } from './machine.js';

describe('the machine figures of the benchmark', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A sysfs-like kdamonds folder: one monitor per entry. */
  function kdamonds(monitors: { state: string; operations: string; sampleUs: string }[]): string {
    const root = mkdtempSync(join(tmpdir(), 'herald-damon-'));
    dirs.push(root);
    writeFileSync(join(root, 'nr_kdamonds'), String(monitors.length));
    monitors.forEach((m, id) => {
      const context = join(root, String(id), 'contexts', '0');
      mkdirSync(join(context, 'monitoring_attrs', 'intervals'), { recursive: true });
      writeFileSync(join(root, String(id), 'state'), `${m.state}\n`);
      writeFileSync(join(context, 'operations'), `${m.operations}\n`);
      writeFileSync(join(context, 'monitoring_attrs', 'intervals', 'sample_us'), `${m.sampleUs}\n`);
    });
    return root;
  }

  it('when DAMON monitors run, then each running one is named with its operations and sampling interval', () => {
    const root = kdamonds([
      { state: 'on', operations: 'paddr', sampleUs: '500000' },
      { state: 'off', operations: 'vaddr', sampleUs: '5000' },
    ]);
    expect(damonMonitors(root)).toEqual(['kdamond 0: paddr, sampling every 500 ms']);
  });

  it('when sysfs has no DAMON folder, then there is no monitor to report', () => {
    expect(damonMonitors(join(tmpdir(), 'herald-no-such-folder'))).toEqual([]);
  });

  it('when the wake-up probe runs, then it reports ordered delays from about one sample per 5 ms', async () => {
    const stop = await startWakeProbe();
    const started = performance.now();
    // The window the probe measures (not a wait for an event): one second of its 5 ms timer.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const delay = await stop();
    const ms = performance.now() - started;
    expect(delay.count).toBeGreaterThan(20);
    expect(delay.count).toBeLessThanOrEqual(Math.ceil(ms / 5) + 1);
    expect(delay.p50).toBeGreaterThanOrEqual(0);
    expect(delay.p99).toBeGreaterThanOrEqual(delay.p50);
    expect(delay.max).toBeGreaterThanOrEqual(delay.p99);
  });
});
