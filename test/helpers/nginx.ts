/**
 * Real load balancers for tests: installs nginx and HAProxy from Debian when they are missing, renders
 * copies of infra/nginx/nginx.conf and infra/haproxy/haproxy.cfg with 127.0.0.1 upstreams, a free port
 * and private paths, and runs private nginx instances (`-c <copy> -p <dir>`, `daemon off;`, pid and logs
 * in a temporary directory). The system's nginx service is never started or touched.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitFor } from './wait.js';

const root = new URL('../..', import.meta.url).pathname;
export const NGINX_CONF = path.join(root, 'infra/nginx/nginx.conf');
export const HAPROXY_CFG = path.join(root, 'infra/haproxy/haproxy.cfg');

const INSTALL =
  'apt-get update -qq && ' +
  '(apt-get install -y -qq --no-install-recommends nginx-light haproxy || ' +
  'apt-get install -y -qq --no-install-recommends nginx haproxy)';
const INSTALL_HINT = 'apt-get update && apt-get install -y --no-install-recommends nginx-light haproxy';

/** A binary on PATH or in the sbin directories (often not on a non-root user's PATH). */
function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  return dirs
    .filter((dir) => path.isAbsolute(dir))
    .map((dir) => path.join(dir, name))
    .find((file) => existsSync(file));
}

export interface LoadBalancerBinaries {
  nginx: string;
  haproxy: string;
}

/**
 * Paths of nginx and haproxy; installs both from Debian's packages first when either is missing (as
 * root, serialized with flock so parallel test files do not race for apt's lock). Throws a message
 * saying what to install when that is not possible.
 */
export function ensureLoadBalancers(): LoadBalancerBinaries {
  const found = (): Partial<LoadBalancerBinaries> => ({
    nginx: findBinary('nginx'),
    haproxy: findBinary('haproxy'),
  });
  let bins = found();
  if (bins.nginx !== undefined && bins.haproxy !== undefined) return bins as LoadBalancerBinaries;
  const missing = Object.entries(bins)
    .filter(([, v]) => v === undefined)
    .map(([k]) => k)
    .join(' and ');
  if (process.platform !== 'linux' || !existsSync('/usr/bin/apt-get')) {
    throw new Error(`These tests need ${missing} (real load balancers); install nginx and haproxy first.`);
  }
  if (process.getuid?.() !== 0) {
    throw new Error(
      `These tests need ${missing} (real load balancers). Install them as root: ${INSTALL_HINT}`,
    );
  }
  const env = {
    ...process.env,
    DEBIAN_FRONTEND: 'noninteractive',
    PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
  };
  const script = `command -v nginx >/dev/null && command -v haproxy >/dev/null && exit 0; ${INSTALL}`;
  const lock = path.join(tmpdir(), 'herald-lb-install.lock');
  const [file, args] = existsSync('/usr/bin/flock')
    ? ['/usr/bin/flock', [lock, 'sh', '-c', script]]
    : ['sh', ['-c', script]];
  const result = spawnSync(file, args, { env, encoding: 'utf8', timeout: 600_000 });
  bins = found();
  if (bins.nginx === undefined || bins.haproxy === undefined) {
    throw new Error(
      `Installing ${missing} failed (exit ${result.status}${result.error ? `, ${result.error.message}` : ''}); ` +
        `install them with: ${INSTALL_HINT}\n${result.stdout ?? ''}${result.stderr ?? ''}`,
    );
  }
  return bins as LoadBalancerBinaries;
}

/** A TCP port that was free a moment ago (the caller retries if it was taken meanwhile). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Replaces every match of `pattern` (global), insisting on at least one: the file must still look as expected. */
function replaceAll(text: string, pattern: RegExp, replacement: string, what: string): string {
  if (!pattern.test(text)) throw new Error(`cannot render the config: ${what} not found (${pattern})`);
  pattern.lastIndex = 0;
  return text.replace(pattern, replacement);
}

/**
 * Replaces the run of `server ...` lines (matched by `line`, each with its address in group 1) with
 * one line per upstream, keeping the first line's form; throws if there are fewer lines than upstreams.
 */
function replaceServers(
  text: string,
  line: RegExp,
  upstreams: number[],
  render: (l: string, port: number, i: number) => string,
): string {
  const lines = text.split('\n');
  const at = lines.flatMap((l, i) => (line.test(l) ? [i] : []));
  if (at.length === 0) throw new Error(`cannot render the config: no upstream server lines (${line})`);
  if (upstreams.length > at.length)
    throw new Error(`the config names ${at.length} servers, not ${upstreams.length}`);
  const template = lines[at[0]!]!;
  const rendered = upstreams.map((port, i) => render(template, port, i));
  lines.splice(at[0]!, at.length, ...rendered);
  if (at.some((i, k) => k > 0 && i !== at[k - 1]! + 1))
    throw new Error('the upstream server lines must be consecutive');
  return lines.join('\n');
}

export interface RenderOptions {
  /** Port the balancer listens on (127.0.0.1). */
  listenPort: number;
  /** Ports of the nodes on 127.0.0.1, in place of herald-1:8080, herald-2:8080, ... */
  upstreams: number[];
  /**
   * The one network /metrics is allowed from, in place of the private ranges (127.0.0.1 included):
   * with e.g. 10.0.0.0/8 a test on loopback is an outsider and sees the rule refuse it.
   */
  metricsAllowedFrom?: string;
}

/**
 * infra/nginx/nginx.conf for a private instance in `dir`: 127.0.0.1 upstreams and listen port,
 * `daemon off;`, pid, logs and temp paths in `dir`, no `user` switch (workers run as nobody when
 * started as root, as the current user otherwise) and the inherited open-files limit.
 */
export function renderNginxConf(source: string, options: RenderOptions & { dir: string }): string {
  const { dir } = options;
  let conf = source;
  conf = replaceAll(conf, /^user\s+\S+;$/m, '# user: the default (rendered for tests)', 'the user directive');
  conf = replaceAll(conf, /^pid\s+\S+;$/m, `pid ${dir}/nginx.pid;`, 'the pid directive');
  // The limit it inherits (Node raised its own soft limit to the hard one); raising it may be refused.
  conf = replaceAll(
    conf,
    /^worker_rlimit_nofile\s+\d+;$/m,
    '# worker_rlimit_nofile: inherited',
    'worker_rlimit_nofile',
  );
  conf = replaceAll(conf, /\/var\/log\/nginx\/error\.log/g, `${dir}/error.log`, 'the error log');
  conf = replaceAll(conf, /\/var\/log\/nginx\/access\.log/g, `${dir}/access.log`, 'the access log');
  conf = replaceAll(
    conf,
    /^(\s*)listen\s+8080;$/m,
    `$1listen 127.0.0.1:${options.listenPort};`,
    'listen 8080',
  );
  conf = replaceServers(conf, /^\s*server\s+herald-\d+:8080\b/, options.upstreams, (line, port) =>
    line.replace(/herald-\d+:8080/, `127.0.0.1:${port}`),
  );
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `    ${kind}_temp_path ${dir}/${kind}_temp;`)
    .join('\n');
  conf = replaceAll(conf, /^http \{$/m, `http {\n${temp}`, 'the http block');
  if (options.metricsAllowedFrom !== undefined)
    conf = replaceAll(
      conf,
      /(location = \/metrics \{\s*)(?:allow [^;]+;\s*)+/,
      `$1allow ${options.metricsAllowedFrom};\n            `,
      'the /metrics allow list',
    );
  return `daemon off;\n${conf}`;
}

/**
 * infra/haproxy/haproxy.cfg with 127.0.0.1 upstreams and listen port, and a maxconn that fits a test
 * machine's open-files limit (HAProxy refuses to start when 2 x maxconn descriptors are not allowed).
 */
export function renderHaproxyCfg(source: string, options: RenderOptions): string {
  let cfg = replaceAll(source, /^(\s*)maxconn\s+\d+$/gm, '$1maxconn 4000', 'maxconn');
  cfg = replaceAll(cfg, /^(\s*)bind\s+:8080$/m, `$1bind 127.0.0.1:${options.listenPort}`, 'bind :8080');
  cfg = replaceServers(
    cfg,
    /^\s*server\s+herald-\d+\s+herald-\d+:8080\b/,
    options.upstreams,
    (line, port, i) => line.replace(/herald-\d+\s+herald-\d+:8080/, `herald-${i + 1} 127.0.0.1:${port}`),
  );
  if (options.metricsAllowedFrom !== undefined)
    cfg = replaceAll(
      cfg,
      /(\/metrics \} !\{ src )[^}]+\}/,
      `$1${options.metricsAllowedFrom} }`,
      'the /metrics source list',
    );
  return cfg;
}

/** A private directory for one balancer instance, readable by nginx's unprivileged workers. */
export function privateDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

export interface CheckResult {
  ok: boolean;
  output: string;
}

/** `nginx -t` on a rendered copy of `source` (default: infra/nginx/nginx.conf). */
export function checkNginxConf(nginx: string, source = readFileSync(NGINX_CONF, 'utf8')): CheckResult {
  const dir = privateDir('herald-nginx-check-');
  try {
    const file = path.join(dir, 'nginx.conf');
    writeFileSync(
      file,
      renderNginxConf(source, { dir, listenPort: 18080, upstreams: [18081, 18082, 18083] }),
    );
    const r = spawnSync(nginx, ['-t', '-c', file, '-p', `${dir}/`, '-e', path.join(dir, 'error.log')], {
      encoding: 'utf8',
    });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `haproxy -c` on a rendered copy of `source` (default: infra/haproxy/haproxy.cfg). */
export function checkHaproxyCfg(haproxy: string, source = readFileSync(HAPROXY_CFG, 'utf8')): CheckResult {
  const dir = privateDir('herald-haproxy-check-');
  try {
    const file = path.join(dir, 'haproxy.cfg');
    writeFileSync(file, renderHaproxyCfg(source, { listenPort: 18090, upstreams: [18081, 18082, 18083] }));
    const r = spawnSync(haproxy, ['-c', '-f', file], { encoding: 'utf8' });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface NginxProcess {
  port: number;
  url: string;
  wsUrl: string;
  dir: string;
  accessLog(): string;
  errorLog(): string;
  /** What nginx printed on its standard output and error. */
  output(): string;
  /** Fast shutdown (SIGTERM, then SIGKILL after 5 s); removes the directory. */
  stop(): Promise<void>;
}

/**
 * Starts a private nginx from infra/nginx/nginx.conf in front of the nodes on `upstreams` (127.0.0.1
 * ports), on a free port; resolves once it answers its own /lb-health.
 */
export async function startNginx(
  upstreams: number[],
  extra: Pick<RenderOptions, 'metricsAllowedFrom'> = {},
): Promise<NginxProcess> {
  const { nginx } = ensureLoadBalancers();
  const source = readFileSync(NGINX_CONF, 'utf8');
  for (let attempt = 1; ; attempt++) {
    const dir = privateDir('herald-nginx-');
    const port = await freePort();
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(conf, renderNginxConf(source, { dir, listenPort: port, upstreams, ...extra }));
    const child = spawn(nginx, ['-c', conf, '-p', `${dir}/`, '-e', path.join(dir, 'error.log')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const killOnExit = (): void => void child.kill('SIGKILL');
    process.once('exit', killOnExit);
    const read = (name: string) => (): string => {
      const file = path.join(dir, name);
      return existsSync(file) ? readFileSync(file, 'utf8') : '';
    };
    const url = `http://127.0.0.1:${port}`;
    const up = await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) return 'exited';
        const res = await fetch(`${url}/lb-health`, { signal: AbortSignal.timeout(1_000) }).catch(
          () => undefined,
        );
        return res?.status === 200 ? 'up' : undefined;
      },
      'nginx to answer /lb-health',
      10_000,
      25,
    );
    if (up === 'up') {
      return {
        port,
        url,
        wsUrl: `ws://127.0.0.1:${port}/ws`,
        dir,
        accessLog: read('access.log'),
        errorLog: read('error.log'),
        output: () => output,
        async stop() {
          process.removeListener('exit', killOnExit);
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
            await exited;
            clearTimeout(timer);
          }
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    process.removeListener('exit', killOnExit);
    const log = read('error.log')();
    rmSync(dir, { recursive: true, force: true });
    if (attempt >= 3 || !/in use/i.test(log + output)) {
      throw new Error(`nginx did not start:\n${output}\n${log}`);
    }
  }
}

export interface HaproxyProcess {
  port: number;
  url: string;
  wsUrl: string;
  /** Its log lines (it logs to standard output) and anything else it printed. */
  output(): string;
  /** Hard stop (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/**
 * Starts a private HAProxy from infra/haproxy/haproxy.cfg in front of the nodes on `upstreams` (127.0.0.1
 * ports), in the foreground (`-db`), on a free port; resolves once it answers its own /lb-health.
 */
export async function startHaproxy(
  upstreams: number[],
  extra: Pick<RenderOptions, 'metricsAllowedFrom'> = {},
): Promise<HaproxyProcess> {
  const { haproxy } = ensureLoadBalancers();
  const source = readFileSync(HAPROXY_CFG, 'utf8');
  for (let attempt = 1; ; attempt++) {
    const dir = privateDir('herald-haproxy-');
    const port = await freePort();
    const file = path.join(dir, 'haproxy.cfg');
    writeFileSync(file, renderHaproxyCfg(source, { listenPort: port, upstreams, ...extra }));
    const child = spawn(haproxy, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const killOnExit = (): void => void child.kill('SIGKILL');
    process.once('exit', killOnExit);
    const url = `http://127.0.0.1:${port}`;
    const up = await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) return 'exited';
        const res = await fetch(`${url}/lb-health`, { signal: AbortSignal.timeout(1_000) }).catch(
          () => undefined,
        );
        return res?.status === 200 ? 'up' : undefined;
      },
      'haproxy to answer /lb-health',
      10_000,
      25,
    );
    rmSync(dir, { recursive: true, force: true }); // read once at start
    if (up === 'up') {
      return {
        port,
        url,
        wsUrl: `ws://127.0.0.1:${port}/ws`,
        output: () => output,
        async stop() {
          process.removeListener('exit', killOnExit);
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
            await exited;
            clearTimeout(timer);
          }
        },
      };
    }
    process.removeListener('exit', killOnExit);
    if (attempt >= 3 || !/in use|cannot bind/i.test(output))
      throw new Error(`haproxy did not start:\n${output}`);
  }
}
