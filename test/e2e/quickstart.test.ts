/**
 * The README quick start, as a user runs it: the compiled service as its own process on the
 * embedded defaults, a token from `npm run token`, a WebSocket client, a REST publish, SIGTERM.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/test-client.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;

interface Proc {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<number | null>;
}

function startService(env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['dist/services/main.js'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc: Proc = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => child.once('exit', resolve)),
  };
  child.stdout.on('data', (d: Buffer) => (proc.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (proc.stderr += d.toString()));
  return proc;
}

async function listeningPort(proc: Proc): Promise<number> {
  const line = await waitFor(
    () => proc.stdout.split('\n').find((l) => l.includes('"herald node listening"')),
    'the service to listen',
    15_000,
  );
  return (JSON.parse(line) as { port: number }).port;
}

describe('quick start (compiled service in its own process)', () => {
  let proc: Proc;
  let port: number;

  beforeAll(async () => {
    proc = startService({ LOG_LEVEL: 'debug' });
    port = await listeningPort(proc);
  }, 20_000);
  afterAll(() => {
    proc.child.kill('SIGKILL');
  });

  it('when started without secrets, then it warns loudly about demo credentials', () => {
    expect(proc.stderr).toContain('DEMO CREDENTIALS IN USE');
    expect(proc.stderr).toContain('npm run token -- --user 42');
  });

  it('when a token from npm run token connects and an order event is posted with curl, then the browser gets it', async () => {
    const { stdout: token } = await run('npm', ['run', '-s', 'token', '--', '--user', '42'], { cwd: root });
    const client = await TestClient.open(`ws://127.0.0.1:${port}/ws`, token.trim());
    await client.subscribe('user:42');
    const { stdout } = await run('curl', [
      '-s',
      '-X',
      'POST',
      `http://127.0.0.1:${port}/v1/orders/1001/events`,
      '-H',
      'Authorization: Bearer demo-publish-key',
      '-H',
      'Content-Type: application/json',
      '-d',
      '{"userId":"42","status":"shipped","details":{"carrier":"UPS"}}',
    ]);
    expect(JSON.parse(stdout)).toMatchObject({
      messages: [
        { channel: 'user:42', offset: 1 },
        { channel: 'order:1001', offset: 1 },
      ],
    });
    const [message] = await client.waitForMessages(1, 'user:42');
    expect(message).toMatchObject({ event: 'order.status', data: { orderId: '1001', status: 'shipped' } });

    // The token was in the URL: no log line may contain it.
    await waitFor(() => proc.stdout.includes('connection opened'), 'the connection log line');
    expect(proc.stdout).not.toContain(token.trim());
    expect(proc.stdout).toContain('token=[redacted]');
    client.close();
  });

  it('when SIGTERM arrives, then the node drains: readiness fails, clients are asked to reconnect, and once they left the process exits 0', async () => {
    const { stdout: token } = await run('npm', ['run', '-s', 'token', '--', '--user', '7'], { cwd: root });
    const client = await TestClient.open(`ws://127.0.0.1:${port}/ws`, token.trim());
    proc.child.kill('SIGTERM');
    expect(await client.next('reconnect', () => true, 5_000)).toEqual({ type: 'reconnect', afterMs: 0 });
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
    // The client follows the frame; the drain ends as soon as nobody is left, well before the window.
    const left = Date.now();
    client.close();
    expect(await proc.exit).toBe(0);
    expect(Date.now() - left).toBeLessThan(5_000);
    expect(proc.stdout).toContain('"msg":"draining"');
  });
});

describe('production boot', () => {
  it('when NODE_ENV=production has no secrets, then boot stops naming them', async () => {
    const proc = startService({ NODE_ENV: 'production' });
    expect(await proc.exit).toBe(78);
    expect(proc.stderr).toContain('JWT_SECRET or JWT_PUBLIC_KEY is required');
    expect(proc.stderr).toContain('API_KEYS is required');
  });

  it('when a variable is invalid, then boot stops naming it', async () => {
    const proc = startService({ WS_HEARTBEAT_MS: 'soon' });
    expect(await proc.exit).toBe(78);
    expect(proc.stderr).toContain('WS_HEARTBEAT_MS="soon"');
  });
});
