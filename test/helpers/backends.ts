/**
 * The Redis and RabbitMQ every test talks to: `TEST_REDIS_URL` and `TEST_AMQP_URL`, by default the
 * machine's own (127.0.0.1:6379 and :5672). test/global-setup.ts makes sure they answer before any test
 * runs: where nothing listens on a local address it starts private servers on those ports.
 */
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export interface HostPort {
  host: string;
  port: number;
}

export function hostPort(url: string, defaultPort: number): HostPort {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: parsed.port === '' ? defaultPort : Number(parsed.port) };
}

/** `url` with its host and port replaced (credentials and vhost kept): the same server through a proxy. */
export function through(url: string, { host, port }: HostPort): string {
  const parsed = new URL(url);
  parsed.hostname = host;
  parsed.port = String(port);
  return parsed.toString();
}

export const REDIS_ADDRESS = hostPort(REDIS_URL, 6379);
export const AMQP_ADDRESS = hostPort(AMQP_URL, 5672);
