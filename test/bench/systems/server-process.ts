/** A node of a system under test as a child process: started, awaited until it listens, tracked for clean-up. */
import { spawn, type ChildProcess } from 'node:child_process';
import { track } from '../cleanup.js';

export const ROOT = new URL('../../..', import.meta.url).pathname;
const KEEP_OUTPUT = 64 * 1024;

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  /** The last 64 KiB of its stdout and stderr. */
  output(): string;
  exited: Promise<void>;
}

/**
 * Spawns `node [args]` in the repository root with exactly `env` (plus PATH), and resolves once
 * `listening` finds the port in a stdout line. Its stdin stays open: a server that sees it close knows
 * the orchestrator is gone.
 */
export async function startServer(
  name: string,
  args: string[],
  env: Record<string, string>,
  listening: (line: string) => number | undefined,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  track(child);
  let output = '';
  const append = (d: Buffer): void => {
    output += d.toString('utf8');
    if (output.length > 2 * KEEP_OUTPUT) output = output.slice(-KEEP_OUTPUT);
  };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    // A server that does not come up is killed: nothing else would stop it.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not listen within 30 s:\n${output}`));
    }, 30_000);
    let pending = '';
    child.stdout.on('data', (d: Buffer) => {
      append(d);
      pending += d.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const port = listening(line);
        if (port !== undefined) {
          clearTimeout(timer);
          pending = '';
          resolve(port);
        }
      }
      if (pending.length > KEEP_OUTPUT) pending = '';
    });
    child.stderr.on('data', append);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
  return { child, pid: child.pid!, port, output: () => output, exited };
}

export async function killAndWait(server: ServerProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill(signal);
  await server.exited;
}
