/** The orchestrator's handle on a load generator process: requests over IPC, and its events. */
import { fork, type ChildProcess } from 'node:child_process';
import {
  GENERATOR_PROTOCOL,
  type Command,
  type Counters,
  type Event,
  type Expectation,
  type Progress,
  type SystemName,
} from './generator-protocol.js';
import { track } from './cleanup.js';
import { knobs } from './knobs.js';

const PROFILES = new URL('./results/profiles', import.meta.url).pathname;

export class Generator {
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly replies = new Map<number, (body: unknown) => void>();
  private readonly events: Event[] = [];
  private readonly waiters = new Set<() => void>();
  private failure: Error | undefined;

  private constructor() {
    this.child = fork(new URL('./load-generator.ts', import.meta.url).pathname, [], {
      execArgv: [
        '--import',
        'tsx',
        ...(knobs.profileGenerator ? ['--cpu-prof', `--cpu-prof-dir=${PROFILES}`] : []),
      ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    track(this.child);
    this.child.on('message', (event: Event) => {
      if (event.kind === 'reply') return this.replies.get(event.re)?.(event.body);
      if (event.kind === 'error') this.failure = new Error(`load generator: ${event.message}`);
      this.events.push(event);
      this.wake();
    });
    this.child.on('exit', (code, signal) => {
      this.failure ??= new Error(`load generator exited (${code ?? signal})`);
      this.wake();
    });
  }

  /** Starts a generator; retries a few times when the one on disk speaks another protocol version. */
  static async start(): Promise<Generator> {
    for (let attempt = 1; ; attempt++) {
      const generator = new Generator();
      const hello = await generator.next('hello', 30_000);
      if (hello.version === GENERATOR_PROTOCOL) return generator;
      await generator.stop();
      const problem = `load generator speaks protocol ${hello.version ?? 'unversioned'}, expected ${GENERATOR_PROTOCOL}`;
      if (attempt >= 5) throw new Error(`${problem}: is test/bench/load-generator.ts current?`);
      console.warn(`${problem}; starting it again`);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  async request<T>(command: Command, timeoutMs = 60_000): Promise<T> {
    const id = this.nextId++;
    let body: { value: T } | undefined;
    this.replies.set(id, (value) => {
      body = { value: value as T };
      this.wake();
    });
    this.child.send({ id, command });
    try {
      return (await this.until(() => body, `${command.kind} reply`, timeoutMs)).value;
    } finally {
      this.replies.delete(id);
    }
  }

  /**
   * Connects every client: `ms` from the first handshake to the last client ready, `cpuMs` the
   * generator's own CPU meanwhile (its tokens are minted before).
   */
  connect(
    system: SystemName,
    urls: string[],
    clients: number,
    handshakes: number,
  ): Promise<{ ms: number; cpuMs: number }> {
    return this.request({ kind: 'connect', system, urls, clients, handshakes }, 300_000);
  }

  arm(expectation: Expectation): Promise<unknown> {
    return this.request({ kind: 'arm', ...expectation });
  }

  progress(final = false): Promise<Progress> {
    return this.request({ kind: 'progress', final });
  }

  counters(): Promise<Counters> {
    return this.request({ kind: 'counters' });
  }

  /** Waits for the next event of `kind`, failing on a generator error or after `timeoutMs`. */
  async next<K extends Event['kind']>(kind: K, timeoutMs: number): Promise<Extract<Event, { kind: K }>> {
    const event = await this.poll(kind, timeoutMs);
    if (!event) throw new Error(`timed out waiting for ${kind} from the load generator`);
    return event;
  }

  /** The next event of `kind`, or undefined after `timeoutMs`; fails on a generator error. */
  async poll<K extends Event['kind']>(
    kind: K,
    timeoutMs: number,
  ): Promise<Extract<Event, { kind: K }> | undefined> {
    try {
      return await this.until(
        () => {
          const index = this.events.findIndex((e) => e.kind === kind);
          return index < 0 ? undefined : (this.events.splice(index, 1)[0] as Extract<Event, { kind: K }>);
        },
        kind,
        timeoutMs,
      );
    } catch (err) {
      if (err instanceof TimeoutError) return undefined;
      throw err;
    }
  }

  /** Resolves with `check()`'s value, polling on every event; fails on a generator error or timeout. */
  private async until<T>(check: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.failure) throw this.failure;
      const value = check();
      if (value !== undefined) return value;
      if (Date.now() > deadline)
        throw new TimeoutError(`timed out waiting for ${what} from the load generator`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.waiters.delete(wake);
          resolve();
        };
        this.waiters.add(wake);
        setTimeout(wake, 250).unref();
      });
    }
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Disconnects (the generator exits by itself, so `--cpu-prof` can write), SIGKILL after 3 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }
}

class TimeoutError extends Error {}
