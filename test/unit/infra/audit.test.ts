/**
 * scripts/audit.ts offline (as on a machine where npm's advisory endpoint does not answer): the
 * lockfile's production packages against scripts/advisories.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../../..', import.meta.url).pathname;

function audit(lockfile?: string): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/audit.ts'], {
    cwd: root,
    env: {
      ...process.env,
      AUDIT_OFFLINE: '1',
      ...(lockfile === undefined ? {} : { AUDIT_LOCKFILE: lockfile }),
    },
    encoding: 'utf8',
  });
  return { status: run.status, output: run.stdout + run.stderr };
}

describe('npm run audit, offline', () => {
  it('when the lockfile holds no package an advisory names, then it passes', () => {
    const { status, output } = audit();
    expect(output).toContain('no high or critical finding');
    expect(status).toBe(0);
  });

  it('when a production package is in a vulnerable range, then it fails naming the advisory; the same package as a dev dependency does not count', () => {
    const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version: string; dev?: boolean }>;
    };
    lock.packages['node_modules/ws']!.version = '8.17.0';
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-audit-'));
    const vulnerable = path.join(dir, 'vulnerable.json');
    writeFileSync(vulnerable, JSON.stringify(lock));
    const failed = audit(vulnerable);
    expect(failed.output).toContain('ws@8.17.0: GHSA-3h5v-q93c-6h6q');
    expect(failed.status).toBe(1);

    lock.packages['node_modules/ws']!.dev = true;
    const devOnly = path.join(dir, 'dev-only.json');
    writeFileSync(devOnly, JSON.stringify(lock));
    expect(audit(devOnly).status).toBe(0);
  });
});
