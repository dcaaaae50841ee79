/**
 * A real browser for test/browser: Debian's Chromium, installed from Debian's packages when missing
 * (as root, serialized with flock like the load balancers), driven by playwright-core. Screenshots go
 * to test/browser/artifacts/ (not committed), for a person to look at.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ensureLoadBalancers, startNginx, type NginxProcess } from './nginx.js';
import { startCluster, type TestCluster } from './node-process.js';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
const INSTALL = 'apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium';

export const ARTIFACTS = new URL('../browser/artifacts/', import.meta.url).pathname;

/** Path of a Chromium; installs Debian's package first when there is none. */
export function ensureChromium(): string {
  const found = (): string | undefined => CANDIDATES.find((file) => existsSync(file));
  const existing = found();
  if (existing !== undefined) return existing;
  if (process.platform !== 'linux' || !existsSync('/usr/bin/apt-get') || process.getuid?.() !== 0)
    throw new Error(`These tests need Chromium; install it as root with: ${INSTALL}`);
  const script = `[ -x /usr/bin/chromium ] && exit 0; ${INSTALL}`;
  const lock = path.join(tmpdir(), 'herald-chromium-install.lock');
  const [file, args] = existsSync('/usr/bin/flock')
    ? ['/usr/bin/flock', [lock, 'sh', '-c', script]]
    : ['sh', ['-c', script]];
  const result = spawnSync(file, args, {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
    timeout: 900_000,
  });
  const installed = found();
  if (installed === undefined)
    throw new Error(
      `Installing Chromium failed (exit ${result.status}); install it with: ${INSTALL}\n${result.stdout}${result.stderr}`,
    );
  return installed;
}

/** Builds the browser SDK bundle the demo page loads (npm test builds the service, not the bundle). */
export function buildBrowserBundle(): void {
  const root = new URL('../..', import.meta.url).pathname;
  execFileSync(process.execPath, ['scripts/build-client.mjs'], { cwd: root, stdio: 'ignore' });
}

/** A headless Chromium (no sandbox when running as root, which Chromium otherwise refuses). */
export async function launchBrowser(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: ensureChromium(),
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}

/** Two node processes behind a real nginx, and a Chromium: the setting of the failover tests. */
export interface BalancedBrowserCluster {
  cluster: TestCluster;
  lb: NginxProcess;
  browser: Browser;
  /** Closes the browser, then nginx, then the nodes (each only if it was started). */
  stop(): Promise<void>;
}

/**
 * Builds the SDK bundle the demo page loads, starts two nodes with `env` behind nginx
 * (infra/nginx/nginx.conf), then Chromium. A first run may install nginx and Chromium.
 */
export async function startBalancedBrowserCluster(
  env: Record<string, string>,
): Promise<BalancedBrowserCluster> {
  ensureLoadBalancers();
  buildBrowserBundle();
  const cluster = await startCluster(2, env);
  const lb = await startNginx(cluster.nodes.map((n) => n.port)).catch(async (err: unknown) => {
    await cluster.stop();
    throw err;
  });
  const browser = await launchBrowser().catch(async (err: unknown) => {
    await lb.stop();
    await cluster.stop();
    throw err;
  });
  return {
    cluster,
    lb,
    browser,
    async stop() {
      await browser.close();
      await lb.stop();
      await cluster.stop();
    },
  };
}
