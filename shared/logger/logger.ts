/**
 * One pino root logger per process; components take child loggers bound to `{ service, nodeId }`.
 * Tokens, API keys and message bodies are never logged: URLs pass through `redactUrlToken`, and the
 * serializers below drop authorization headers.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/config.js';

export type { Logger };

/**
 * Replaces the value of every query parameter whose name, decoded as the gateway decodes it
 * (URLSearchParams: percent escapes, `+` for a space), is `token` in any case, with `[redacted]`:
 * `?%74oken=…` is the same parameter to the gateway and must be to the log too.
 */
export function redactUrlToken(url: string | undefined): string | undefined {
  if (url === undefined) return url;
  const q = url.indexOf('?');
  if (q < 0) return url;
  const query = url.slice(q + 1);
  // Fast path: a query without `token` and without escapes has no such parameter.
  if (!/token/i.test(query) && !query.includes('%')) return url;
  const pairs = query.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    return decodedName(rawName).toLowerCase() === 'token' ? `${rawName}=[redacted]` : pair;
  });
  return `${url.slice(0, q + 1)}${pairs.join('&')}`;
}

function decodedName(raw: string): string {
  const spaced = raw.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

export function createLogger(options: { level: LogLevel; nodeId: string; pretty?: boolean }): Logger {
  return pino({
    level: options.level,
    base: { nodeId: options.nodeId },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'token', '*.token', 'apiKey', '*.apiKey'],
      censor: '[redacted]',
    },
    ...(options.pretty
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } }
      : {}),
  });
}
