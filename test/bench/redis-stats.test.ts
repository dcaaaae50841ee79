import { describe, expect, it } from 'vitest';
import { callsSince, commandCalls } from './redis-stats.js';

describe('the benchmarks’ Redis command counts', () => {
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
