import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CHANNEL_KINDS,
  CHANNEL_PATTERN,
  channelKind,
  orderChannel,
  ownStrings,
  parseChannel,
  promotionsChannel,
  userChannel,
  userOfChannel,
  type ChannelKind,
  type ChannelRef,
} from '../../../shared/protocol/channels.js';

describe('parseChannel: the five shapes', () => {
  it.each<[string, ChannelRef]>([
    ['user:u1', { kind: 'user', userId: 'u1' }],
    ['user:Az09._@|=+-', { kind: 'user', userId: 'Az09._@|=+-' }],
    ['order:ORD-2024.0001', { kind: 'order', orderId: 'ORD-2024.0001' }],
    ['promotions', { kind: 'promotions' }],
    ['promotions:vip_eu-west.1', { kind: 'segment', segment: 'vip_eu-west.1' }],
    [`user:${'u'.repeat(128)}`, { kind: 'user', userId: 'u'.repeat(128) }],
    [`order:${'o'.repeat(128)}`, { kind: 'order', orderId: 'o'.repeat(128) }],
    [`promotions:${'s'.repeat(64)}`, { kind: 'segment', segment: 's'.repeat(64) }],
    ['cluster', { kind: 'cluster' }],
  ])('when the channel is %j, then it parses to its shape', (name, expected) => {
    expect(parseChannel(name)).toEqual(expected);
  });

  it('when a channel is built with the helpers, then it parses back to the same id', () => {
    expect(parseChannel(userChannel('u-9'))).toEqual({ kind: 'user', userId: 'u-9' });
    expect(parseChannel(orderChannel('o-9'))).toEqual({ kind: 'order', orderId: 'o-9' });
    expect(parseChannel(promotionsChannel())).toEqual({ kind: 'promotions' });
    expect(parseChannel(promotionsChannel('gold'))).toEqual({ kind: 'segment', segment: 'gold' });
  });
});

describe('parseChannel: rejections', () => {
  it.each([
    ['an empty user id', 'user:'],
    ['an empty order id', 'order:'],
    ['an empty segment', 'promotions:'],
    ['user without a colon', 'user'],
    ['order without a colon', 'order'],
    ['the empty string', ''],
    ['a space in the id', 'user:u 1'],
    ['a slash in the id', 'order:o/1'],
    ['a colon in the id', 'user:u:1'],
    ['a non-ASCII id', 'user:üser'],
    ['a trailing newline', 'user:u1\n'],
    ['an @ in a segment', 'promotions:a@b'],
    ['a + in a segment', 'promotions:a+b'],
    ['an unknown prefix', 'room:lobby'],
    ['an upper-case prefix', 'User:u1'],
    ['an upper-case promotions', 'Promotions'],
    ['promotions with a suffix', 'promotionsx'],
    ['a 129-character user id', `user:${'u'.repeat(129)}`],
    ['a 129-character order id', `order:${'o'.repeat(129)}`],
    ['a 65-character segment', `promotions:${'s'.repeat(65)}`],
    ['a leading colon', ':u1'],
    ['cluster with a suffix', 'cluster:n1'],
    ['an upper-case cluster', 'Cluster'],
  ])('when the channel has %s, then it is rejected', (_what, name) => {
    expect(parseChannel(name)).toBeUndefined();
  });

  it('when parseChannel accepts or rejects a name, then CHANNEL_PATTERN (what REST publishes to) agrees, but for cluster', () => {
    const re = new RegExp(CHANNEL_PATTERN);
    const names = [
      'user:u1',
      'order:o.1',
      'promotions',
      'promotions:vip',
      'user:',
      'promotions:a@b',
      'room:x',
      'user',
    ];
    for (const name of names) expect(re.test(name)).toBe(parseChannel(name) !== undefined);
    // Only nodes publish node stats: the REST API refuses the channel.
    expect(parseChannel('cluster')).toEqual({ kind: 'cluster' });
    expect(re.test('cluster')).toBe(false);
  });
});

describe('channelKind', () => {
  it.each<[string, ChannelKind]>([
    ['user:u1', 'user'],
    ['order:o-1', 'order'],
    ['promotions', 'promotions'],
    ['promotions:vip', 'segment'],
    ['promotions:a', 'segment'],
  ])('when the valid channel is %j, then its kind is %s, as parseChannel says', (channel, kind) => {
    expect(channelKind(channel)).toBe(kind);
    expect(parseChannel(channel)?.kind).toBe(kind);
  });

  it('when the channel is cluster, then it travels as promotions (a broadcast)', () => {
    expect(channelKind('cluster')).toBe('promotions');
    expect(CHANNEL_KINDS.cluster).toBe('promotions');
  });

  it.each(['user:u1', 'order:o-1', 'promotions', 'promotions:vip', 'cluster'])(
    "when the valid channel is %j, then its kind is its shape's entry in the table of kinds",
    (channel) => {
      const shape = parseChannel(channel)?.kind;
      expect(shape).toBeDefined();
      expect(channelKind(channel)).toBe(CHANNEL_KINDS[shape!]);
    },
  );
});

describe('userOfChannel', () => {
  it('names the user of a user channel, and nothing for any other', () => {
    expect(userOfChannel('user:42')).toBe('42');
    expect(userOfChannel('order:o-1')).toBeUndefined();
    expect(userOfChannel('promotions')).toBeUndefined();
    expect(userOfChannel('cluster')).toBeUndefined();
  });
});

describe('ownStrings: channel names that do not hold the URL they were cut from', () => {
  it('keeps the names and their order', () => {
    expect(ownStrings(['user:bench-1234', 'promotions', 'order:o-1'])).toEqual([
      'user:bench-1234',
      'promotions',
      'order:o-1',
    ]);
  });

  it('returns no V8 sliced string where split() returned one (the built module, in a node that can tell)', () => {
    // V8's string representation is visible only through its natives syntax, so this runs in a child
    // node. The control line shows that split() hands out a slice of the URL here.
    const channelsModule = fileURLToPath(
      new URL('../../../dist/shared/protocol/channels.js', import.meta.url),
    );
    const script = `
      const { ownStrings } = await import(${JSON.stringify(channelsModule)});
      const url = new URL('http://localhost/ws?token=' + 'x'.repeat(300) + '&channels=user:bench-1234,promotions');
      const cut = url.searchParams.get('channels').split(',');
      const kind = (s) => { %DebugPrint(s); };
      console.log('--- cut'); kind(cut[0]);
      console.log('--- own'); kind(ownStrings(cut)[0]);
    `;
    const out = execFileSync(
      process.execPath,
      ['--allow-natives-syntax', '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
      },
    );
    const typeOf = (label: string): string | undefined =>
      /- type: (\S+)/.exec(out.split(`--- ${label}`)[1] ?? '')?.[1];
    expect(typeOf('cut')).toBe('SLICED_ONE_BYTE_STRING_TYPE');
    expect(typeOf('own')).toMatch(/^(INTERNALIZED_)?ONE_BYTE_STRING_TYPE$/);
  });
});
