/**
 * `npm run audit`: no high or critical advisory for a package of the production tree.
 *  1. `npm audit --omit=dev`, when npm's advisory endpoint answers: the authority.
 *  2. Otherwise (offline, or a registry mirror without the endpoint), the lockfile's production
 *     packages against scripts/advisories.json, a dated snapshot of the high and critical advisories
 *     known for them; it says that it ran on the snapshot.
 * Exits 1 on a high or critical finding, 0 otherwise. AUDIT_OFFLINE=1 skips step 1 and
 * AUDIT_LOCKFILE checks another lockfile (both for test/unit/infra/audit.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import semver from 'semver';

interface NpmAuditReport {
  metadata?: { vulnerabilities: Record<'critical' | 'high' | 'moderate' | 'low', number> };
  vulnerabilities?: Record<string, { severity: string; range: string }>;
  error?: unknown;
}

interface Advisory {
  id: string;
  package: string;
  vulnerable: string;
  severity: 'low' | 'moderate' | 'high' | 'critical';
  summary: string;
  url: string;
}

interface Lockfile {
  packages: Record<string, { version?: string; dev?: boolean }>;
}

const root = new URL('..', import.meta.url).pathname;

function npmAudit(): NpmAuditReport | undefined {
  let out: string;
  try {
    out = execFileSync('npm', ['audit', '--omit=dev', '--json'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
  } catch (err) {
    // npm audit exits 1 when it finds something: its JSON is still the report.
    const stdout = (err as { stdout?: unknown }).stdout;
    out = typeof stdout === 'string' ? stdout : '';
  }
  try {
    const report = JSON.parse(out) as NpmAuditReport;
    return report.error === undefined ? report : undefined;
  } catch {
    return undefined;
  }
}

function online(report: NpmAuditReport): number {
  const v = report.metadata!.vulnerabilities;
  console.log(
    `npm audit (production tree): ${v.critical} critical, ${v.high} high, ${v.moderate} moderate, ${v.low} low`,
  );
  for (const [name, entry] of Object.entries(report.vulnerabilities ?? {}))
    console.log(`  ${entry.severity.padEnd(8)} ${name} ${entry.range}`);
  return v.critical + v.high > 0 ? 1 : 0;
}

function offline(): number {
  const lock = JSON.parse(
    readFileSync(process.env.AUDIT_LOCKFILE ?? `${root}package-lock.json`, 'utf8'),
  ) as Lockfile;
  const { advisories, updated } = JSON.parse(readFileSync(`${root}scripts/advisories.json`, 'utf8')) as {
    advisories: Advisory[];
    updated: string;
  };
  const production = Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith('node_modules/') && entry.dev !== true && entry.version)
    .map(([path, entry]) => ({
      name: path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length),
      version: entry.version!,
    }));
  const findings = production.flatMap(({ name, version }) =>
    advisories
      .filter((a) => a.package === name && semver.satisfies(version, a.vulnerable))
      .map((a) => ({ name, version, ...a })),
  );
  console.log(
    `npm's advisory endpoint did not answer; checked the ${production.length} production packages of ` +
      `the lockfile against scripts/advisories.json (${advisories.length} advisories, updated ${updated}).`,
  );
  for (const f of findings)
    console.log(`  ${f.severity.padEnd(8)} ${f.name}@${f.version}: ${f.id} ${f.summary} (${f.url})`);
  const serious = findings.filter((f) => f.severity === 'high' || f.severity === 'critical');
  console.log(
    serious.length === 0 ? 'no high or critical finding' : `${serious.length} high or critical finding(s)`,
  );
  return serious.length > 0 ? 1 : 0;
}

const report = process.env.AUDIT_OFFLINE === '1' ? undefined : npmAudit();
process.exit(report?.metadata !== undefined ? online(report) : offline());
