/**
 * Everything the run must undo, even when it fails or is interrupted: child processes (killed by pid)
 * and async clean-ups (Redis keys, RabbitMQ exchange and queues), run once, newest first.
 */
import type { ChildProcess } from 'node:child_process';

const children = new Set<ChildProcess>();
const tasks: { name: string; run: () => Promise<void> }[] = [];

/** Kills `child` (SIGKILL, by its pid) at the latest when the run ends. */
export function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Registers an async clean-up; returns a function that runs it now (once) and unregisters it. */
export function onCleanup(name: string, run: () => Promise<void>): () => Promise<void> {
  const task = { name, run };
  tasks.push(task);
  return async () => {
    const index = tasks.indexOf(task);
    if (index < 0) return;
    tasks.splice(index, 1);
    await run();
  };
}

function killChildren(): void {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Kills every tracked child, then runs the remaining clean-ups (errors are printed, not thrown). */
export async function cleanUpAll(): Promise<void> {
  killChildren();
  await Promise.all(
    [...children].map(
      (c) =>
        new Promise((resolve) =>
          c.exitCode !== null || c.signalCode !== null ? resolve(null) : c.once('exit', resolve),
        ),
    ),
  );
  while (tasks.length > 0) {
    const task = tasks.pop()!;
    try {
      await task.run();
    } catch (err) {
      console.error(`clean-up ${task.name} failed: ${String(err)}`);
    }
  }
}

let interrupted: NodeJS.Signals | undefined;

/** Throws once SIGINT/SIGTERM arrived: nothing new may start then. */
export function checkInterrupted(): void {
  if (interrupted) throw new Error(`interrupted by ${interrupted}`);
}

/** On SIGINT/SIGTERM: clean up, then exit; at process exit, at least no child is left running. */
export function installSignalHandlers(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      interrupted = signal;
      console.error(`\n${signal}: cleaning up`);
      void cleanUpAll().finally(() => process.exit(130));
    });
  process.on('exit', killChildren);
}
