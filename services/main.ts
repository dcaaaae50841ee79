/**
 * Process entry: `npm start` (after a build) or `node dist/services/main.js`.
 * Reads the configuration, prints demo credentials in development, and drains on SIGTERM/SIGINT.
 */
import {
  ConfigError,
  DEMO_API_KEY,
  loadConfig,
  startupWarnings,
  type Config,
} from '../shared/config/config.js';
import { createLogger, type Logger } from '../shared/logger/logger.js';
import { HeraldNode } from './node/herald-node.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`herald: ${err.message}`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel, nodeId: config.nodeId });
  warnAboutDemoCredentials(config, log);
  // Loud, once per boot: each names a setting that closes an attack (docs/operations.md 1.3).
  for (const { setting, message } of startupWarnings(config)) log.warn({ setting }, message);

  let node: HeraldNode;
  try {
    node = await HeraldNode.create({ config, log });
    await node.start();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`herald: ${err.message}`);
      process.exit(78);
    }
    log.fatal({ err }, 'herald failed to start');
    process.exit(1);
  }

  const shutdown = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      log.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    // Drain first (clients move elsewhere over DRAIN_WINDOW_MS), then stop; all within the deadline.
    node
      .drain()
      .then(() => node.stop())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
}

function warnAboutDemoCredentials(config: Config, log: Logger): void {
  const { jwt, apiKeys } = config.demoCredentials;
  if (!jwt && !apiKeys) return;
  const lines = [
    '',
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    '!!  DEMO CREDENTIALS IN USE: anyone who reads this can publish and connect. Never in production.',
    ...(jwt ? ['!!  JWT_SECRET is unset: client tokens are signed with the public demo secret.'] : []),
    ...(apiKeys ? [`!!  API_KEYS is unset: REST API key "${DEMO_API_KEY}" has scopes publish+admin.`] : []),
    '!!  Mint a client token:   npm run token -- --user 42 [--segments vip,city-paris] [--ttl 3600]',
    `!!  Connect:               ws://127.0.0.1:${config.port}/ws?token=<token>`,
    ...(config.demoEnabled
      ? [`!!  Storefront demo:       http://127.0.0.1:${config.port}/demo?user=42`]
      : []),
    ...(apiKeys && config.internal === undefined
      ? [`!!  Operator console:      http://127.0.0.1:${config.port}/dashboard (key "${DEMO_API_KEY}")`]
      : []),
    '!!  Set JWT_SECRET (or JWT_PUBLIC_KEY) and API_KEYS, or NODE_ENV=production, to turn this off',
    '!!  (the demo and its token route too, unless DEMO_ENABLED=true).',
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    '',
  ];
  console.warn(lines.join('\n'));
  log.warn({ demoJwt: jwt, demoApiKeys: apiKeys }, 'running with demo credentials');
}

void main();
