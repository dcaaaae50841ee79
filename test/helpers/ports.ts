/**
 * Ports for servers a test starts itself (redis-server, rabbitmq-server), which bind them a moment
 * after they were found free. Taken below the kernel's ephemeral range (32768-60999 on Linux), so no
 * outgoing connection of a busy test run can take one in between, as happens with port 0's picks.
 */
import { createServer } from 'node:net';

const LOW = 20_000;
const HIGH = 32_000;
const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port in [20000, 32000) that nothing listens on now and this process has not handed out before. */
export async function serverPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port found in [${LOW}, ${HIGH})`);
}
