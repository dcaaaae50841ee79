/**
 * Counts the writes that reach a socket (one syscall each: `_write`, or `_writev` for a corked batch)
 * and keeps the bytes they carried (latin1), until `restore()`.
 */
import type { Socket } from 'node:net';

export interface SocketWrites {
  count: () => number;
  /** Each write's bytes, as latin1 text. */
  chunks: () => string[];
  /** Everything written meanwhile, as latin1 text. */
  text: () => string;
  restore: () => void;
}

export function countSocketWrites(socket: Socket): SocketWrites {
  const writes: string[] = [];
  const target = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>;
  const originals = { _write: target._write, _writev: target._writev };
  const latin1 = (chunk: unknown): string =>
    typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('latin1');
  target._write = function (this: unknown, ...args: unknown[]) {
    writes.push(latin1(args[0]));
    return originals._write.apply(this, args);
  };
  target._writev = function (this: unknown, ...args: unknown[]) {
    writes.push((args[0] as { chunk: unknown }[]).map(({ chunk }) => latin1(chunk)).join(''));
    return originals._writev.apply(this, args);
  };
  return {
    count: () => writes.length,
    chunks: () => [...writes],
    text: () => writes.join(''),
    restore: () => Object.assign(target, originals),
  };
}
