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
