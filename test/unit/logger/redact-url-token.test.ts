import { describe, expect, it } from 'vitest';
import { redactUrlToken } from '../../../shared/logger/logger.js';

describe('redactUrlToken', () => {
  it('when a token parameter is named literally or with escapes, then its value is redacted', () => {
    expect(redactUrlToken('/ws?token=eyJ.a.b')).toBe('/ws?token=[redacted]');
    expect(redactUrlToken('/ws?%74oken=eyJ.a.b')).toBe('/ws?%74oken=[redacted]');
    expect(redactUrlToken('/ws?to%6Ben=eyJ.a.b&x=1')).toBe('/ws?to%6Ben=[redacted]&x=1');
    expect(redactUrlToken('/ws?x=1&TOKEN=eyJ')).toBe('/ws?x=1&TOKEN=[redacted]');
  });

  it('when no parameter is a token, then the URL is unchanged', () => {
    expect(redactUrlToken('/v1/publish')).toBe('/v1/publish');
    expect(redactUrlToken('/ws?tokens=1&mytoken=2')).toBe('/ws?tokens=1&mytoken=2');
    expect(redactUrlToken('/ws?a=%zz')).toBe('/ws?a=%zz');
    expect(redactUrlToken(undefined)).toBeUndefined();
  });

  it('when the gateway would read a token from the query, then the log line holds none of it', () => {
    for (const url of ['/ws?%74oken=secret-jwt', '/ws?t%6F%6Ben=secret-jwt', '/ws?a=1&token=secret-jwt']) {
      const gatewaySees = new URL(url, 'http://h').searchParams.get('token');
      expect(gatewaySees).toBe('secret-jwt');
      expect(redactUrlToken(url)).not.toContain('secret-jwt');
    }
  });
});
