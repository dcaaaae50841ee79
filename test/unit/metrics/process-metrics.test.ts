/**
 * The process metrics a node serves (shared/metrics/metrics.ts): prom-client's defaults, without those
 * that list every handle or file descriptor on each scrape, and the open fd count taken without a
 * listing.
 */
import { openSync, closeSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../shared/metrics/metrics.js';

const value = (text: string, name: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};

describe('process metrics', () => {
  it('when scraped, then the defaults are there but none that lists every handle or resource', async () => {
    const text = await new Metrics(true).registry.metrics();
    expect(value(text, 'herald_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toContain('herald_nodejs_eventloop_lag_max_seconds');
    for (const listed of [
      'active_handles',
      'active_handles_total',
      'active_resources',
      'active_resources_total',
    ])
      expect(text).not.toMatch(new RegExp(`^herald_nodejs_${listed}[ {]`, 'm'));
  });

  it.runIf(process.platform === 'linux')(
    'when files are opened, then herald_process_open_fds counts them as a listing of /proc/self/fd would',
    async () => {
      const metrics = new Metrics(true);
      const scrape = async (): Promise<number> =>
        value(await metrics.registry.metrics(), 'herald_process_open_fds')!;
      const listed = (): number => readdirSync('/proc/self/fd').length - 1;
      const fds = Array.from({ length: 300 }, () => openSync('/dev/null', 'r'));
      try {
        const [open, expected] = [await scrape(), listed()];
        // Other fds of the test process may open or close in between: a few, not hundreds.
        expect(Math.abs(open - expected)).toBeLessThan(20);
        for (const fd of fds.splice(0, 200)) closeSync(fd);
        expect(open - (await scrape())).toBeGreaterThan(180);
      } finally {
        for (const fd of fds) closeSync(fd);
      }
    },
  );
});
