/**
 * One pino root logger per process; components take child loggers bound to `{ service, nodeId }`.
 * Tokens, API keys and message bodies are never logged: URLs pass through `redactUrl`, and the
 * serializers below drop authorization headers.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/config.js';

export type { Logger };

/** Replaces the value of every `token` query parameter with `[redacted]`. */
export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined || !url.includes('token=')) return url;
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
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
