import { describe, expect, it } from 'vitest';
import {
  ApiKeyring,
  hasScope,
  parseApiKeys,
  type ApiKey,
  type Scope,
} from '../../../shared/auth/api-keys.js';

const key = (name: string, k: string, ...scopes: Scope[]): ApiKey => ({
  name,
  key: k,
  scopes: new Set(scopes),
});

describe('parseApiKeys', () => {
  it('when several well-formed entries are given, then every key is returned with its scopes', () => {
    const { keys, problems } = parseApiKeys(' orders:k-orders-1:publish , ops:k-ops-2:admin+publish,', 1);
    expect(problems).toEqual([]);
    expect(keys).toEqual([
      { name: 'orders', key: 'k-orders-1', scopes: new Set(['publish']) },
      { name: 'ops', key: 'k-ops-2', scopes: new Set(['admin', 'publish']) },
    ]);
  });

  it.each([
    ['two parts', 'orders:key'],
    ['four parts', 'orders:key:publish:extra'],
    ['an empty name', ':key:publish'],
    ['an empty key', 'orders::publish'],
    ['no scopes', 'orders:key:'],
    ['no colon at all', 'justakey'],
  ])('when an entry has %s, then a shape problem names the entry', (_what, raw) => {
    const { keys, problems } = parseApiKeys(raw, 1);
    expect(keys).toEqual([]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^entry 1\b.*must be name:key:scope\+scope$/);
  });

  it('when a bad entry follows a good one, then the problem names the second entry', () => {
    const { keys, problems } = parseApiKeys('a:ka:publish,b:kb', 1);
    expect(keys.map((k) => k.name)).toEqual(['a']);
    expect(problems).toEqual(['entry 2 (b) must be name:key:scope+scope']);
  });

  it('when a scope is unknown, then the problem names it and the known scopes', () => {
    const { problems } = parseApiKeys('orders:key:publish+superuser', 1);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('orders');
    expect(problems[0]).toContain('"superuser"');
    expect(problems[0]).toContain('publish, admin');
  });

  it('when the scope list has an empty scope, then it is reported as unknown', () => {
    expect(parseApiKeys('orders:key:publish+', 1).problems).toEqual([
      'entry 1 (orders): unknown scope "" (known: publish, admin)',
    ]);
  });

  it('when a name is used twice, then a duplicate-name problem is reported', () => {
    const { problems } = parseApiKeys('orders:key-one:publish,orders:key-two:admin', 1);
    expect(problems).toEqual(['entry 2 (orders): name is used twice']);
  });

  it('when a key is shorter than minKeyLength, then the problem gives the minimum', () => {
    const { problems } = parseApiKeys('orders:short:publish', 16);
    expect(problems).toEqual(['entry 1 (orders): key must be at least 16 characters']);
  });

  it('when a key is exactly minKeyLength long, then it is accepted', () => {
    const { keys, problems } = parseApiKeys(`orders:${'k'.repeat(16)}:publish`, 16);
    expect(problems).toEqual([]);
    expect(keys).toHaveLength(1);
  });

  it.each(['', '   ', ',', ' , ,, '])('when the input %j has no entries, then "no keys given"', (raw) => {
    expect(parseApiKeys(raw, 1)).toEqual({ keys: [], problems: ['no keys given'] });
  });

  it('when several entries are bad, then every problem is reported', () => {
    const { problems } = parseApiKeys('a:x:nope,a:y:publish,bad', 2);
    expect(problems).toHaveLength(5);
  });
});

describe('ApiKeyring.find', () => {
  const orders = key('orders', 'orders-secret-key', 'publish');
  const ops = key('ops', 'ops-secret-key-xx', 'admin');
  const ring = new ApiKeyring([orders, ops]);

  it('when the presented key matches one entry, then that entry is returned', () => {
    expect(ring.find('orders-secret-key')).toBe(orders);
    expect(ring.find('ops-secret-key-xx')).toBe(ops);
  });

  it('when the presented key matches no entry, then undefined', () => {
    expect(ring.find('orders-secret-kez')).toBeUndefined();
    expect(ring.find('')).toBeUndefined();
  });

  it('when the presented key has a different length (prefix or extension), then undefined', () => {
    expect(ring.find('orders-secret')).toBeUndefined();
    expect(ring.find('orders-secret-key-and-more')).toBeUndefined();
  });

  it('when the keyring is empty, then nothing is found', () => {
    expect(new ApiKeyring([]).find('orders-secret-key')).toBeUndefined();
  });

  it('when two entries share a key, then the first one wins', () => {
    const first = key('first', 'same', 'publish');
    const second = key('second', 'same', 'admin');
    expect(new ApiKeyring([first, second]).find('same')).toBe(first);
  });
});

describe('hasScope', () => {
  it('when a key has publish, then it has publish but not admin', () => {
    const k = key('orders', 'k', 'publish');
    expect(hasScope(k, 'publish')).toBe(true);
    expect(hasScope(k, 'admin')).toBe(false);
  });

  it('when a key has admin, then admin implies publish', () => {
    const k = key('ops', 'k', 'admin');
    expect(hasScope(k, 'admin')).toBe(true);
    expect(hasScope(k, 'publish')).toBe(true);
  });

  it('when a key has no scopes, then it has none', () => {
    const k = key('none', 'k');
    expect(hasScope(k, 'publish')).toBe(false);
    expect(hasScope(k, 'admin')).toBe(false);
  });
});
