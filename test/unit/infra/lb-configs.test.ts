/**
 * The load balancer configurations (infra/nginx/nginx.conf, infra/haproxy/haproxy.cfg): the real nginx
 * and haproxy accept a copy rendered with 127.0.0.1 upstreams (`nginx -t`, `haproxy -c`; both are
 * installed from Debian first when missing, never skipped), and the settings Herald depends on are there.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { intDefault } from '../../../shared/config/config.js';
import {
  checkHaproxyCfg,
  checkNginxConf,
  ensureLoadBalancers,
  HAPROXY_CFG,
  NGINX_CONF,
  renderHaproxyCfg,
  renderNginxConf,
  type LoadBalancerBinaries,
} from '../../helpers/nginx.js';

const HEARTBEAT_MS = intDefault('WS_HEARTBEAT_MS');
const nginxSource = readFileSync(NGINX_CONF, 'utf8');
const haproxySource = readFileSync(HAPROXY_CFG, 'utf8');

/** The configuration without comments (neither file has `#` inside a quoted string). */
function active(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trimEnd())
    .filter((line) => line.trim() !== '')
    .join('\n');
}

/** Lines that are commented out, without the `#`. */
function commented(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => /^\s*#/.test(line))
    .map((line) => line.replace(/^\s*#\s?/, '').trim());
}

/** The body of the first nginx block opened by `head` (e.g. `location = /ws`), braces balanced. */
function block(conf: string, head: string): string {
  const start = conf.indexOf(`${head} {`);
  if (start < 0) throw new Error(`no block ${head}`);
  let depth = 0;
  for (let i = conf.indexOf('{', start); i < conf.length; i++) {
    if (conf[i] === '{') depth++;
    if (conf[i] === '}' && --depth === 0) return conf.slice(conf.indexOf('{', start) + 1, i);
  }
  throw new Error(`unbalanced block ${head}`);
}

/** A duration in milliseconds: nginx's and HAProxy's forms (500ms, 75s, 1m, 1h, or bare seconds/ms). */
function ms(value: string, bare: 's' | 'ms'): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value);
  if (m === null) throw new Error(`not a duration: ${value}`);
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const unit = units[m[2] ?? bare]!;
  return Number(m[1]) * unit;
}

/** The value of a directive (`name value;` or `name value`), first occurrence, in `text`. */
function directive(text: string, name: string): string {
  const m = new RegExp(`^\\s*${name}\\s+([^;\\n]+?);?$`, 'm').exec(text);
  if (m === null) throw new Error(`no ${name}`);
  return m[1]!.trim();
}

let bins: LoadBalancerBinaries;
beforeAll(() => {
  bins = ensureLoadBalancers();
}, 600_000);

describe('infra/nginx/nginx.conf', () => {
  const conf = active(nginxSource);
  const ws = block(conf, 'location = /ws');
  const rest = block(conf, 'location /');
  const upstream = block(conf, 'upstream herald');

  it('is accepted by nginx -t when rendered with 127.0.0.1 upstreams', () => {
    const result = checkNginxConf(bins.nginx);
    expect(result.output).toContain('test is successful');
    expect(result.ok).toBe(true);
  });

  it('renders for tests with the given ports, private paths and daemon off', () => {
    const out = renderNginxConf(nginxSource, { dir: '/tmp/x', listenPort: 1234, upstreams: [1, 2, 3] });
    expect(out).toMatch(/^daemon off;/);
    expect(out).toContain('listen 127.0.0.1:1234;');
    expect(out.match(/server 127\.0\.0\.1:\d+ /g)).toEqual([
      'server 127.0.0.1:1 ',
      'server 127.0.0.1:2 ',
      'server 127.0.0.1:3 ',
    ]);
    expect(out).not.toMatch(/herald-\d:8080|\/var\/log|\/var\/run/);
  });

  it('balances by least connections over the three compose nodes, with source-IP hash as a commented alternative', () => {
    expect(upstream).toMatch(/^\s*least_conn;$/m);
    expect(upstream).not.toMatch(/ip_hash|hash \$remote_addr/);
    expect(commented(nginxSource)).toEqual(
      expect.arrayContaining(['hash $remote_addr consistent;', 'ip_hash;']),
    );
    // Shared across workers, or each worker would count only its own connections.
    expect(upstream).toMatch(/^\s*zone herald \d+k;$/m);
    const servers = [...upstream.matchAll(/^\s*server\s+(\S+)\s+(.*);$/gm)];
    expect(servers.map((s) => s[1])).toEqual(['herald-1:8080', 'herald-2:8080', 'herald-3:8080']);
    for (const s of servers) expect(s[2]).toMatch(/max_fails=\d+ fail_timeout=\d+s/);
  });

  it('sends /ws and REST to the same upstream, documenting that health checks are passive', () => {
    expect(directive(ws, 'proxy_pass')).toBe('http://herald');
    expect(directive(rest, 'proxy_pass')).toBe('http://herald');
    expect(nginxSource).toMatch(/PASSIVE checks only/);
    expect(directive(ws, 'proxy_next_upstream')).toMatch(/error timeout .*http_503/);
    expect(directive(rest, 'proxy_next_upstream')).toMatch(/^error timeout/);
    // POSTs that reached a node are not resent by nginx: the backend retries with its Idempotency-Key.
    expect(rest).not.toContain('non_idempotent');
  });

  it('upgrades WebSockets: HTTP/1.1, Upgrade and Connection from a map, no buffering on /ws', () => {
    expect(conf).toMatch(/map \$http_upgrade \$connection_upgrade \{\s*default upgrade;\s*''\s+'';\s*\}/);
    const server = block(conf, 'server');
    expect(directive(server, 'proxy_http_version')).toBe('1.1');
    expect(server).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(server).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    expect(server).toMatch(/proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/);
    expect(server).toMatch(/proxy_set_header X-Forwarded-Proto \$scheme;/);
    // A proxy_set_header inside a location would drop every inherited one (nginx inheritance rule).
    for (const m of conf.matchAll(/location [^{]+\{([^}]*)\}/g))
      expect(m[1]).not.toContain('proxy_set_header');
    expect(directive(ws, 'proxy_buffering')).toBe('off');
  });

  it('keeps idle WebSocket tunnels open longer than two heartbeat intervals', () => {
    expect(ms(directive(ws, 'proxy_read_timeout'), 's')).toBeGreaterThan(2 * HEARTBEAT_MS);
    expect(ms(directive(ws, 'proxy_send_timeout'), 's')).toBeGreaterThan(2 * HEARTBEAT_MS);
    expect(nginxSource).toMatch(/must exceed 2 x WS_HEARTBEAT_MS/);
  });

  it('never logs the query string (token=): a custom log format with $uri, and /ws errors at crit', () => {
    const formats = [...conf.matchAll(/log_format\s+(\S+)\s+((?:'[^']*'\s*)+);/g)];
    expect(formats.map((f) => f[1])).toEqual(['herald']);
    const format = formats[0]![2]!;
    expect(format).toContain('$uri');
    expect(format).not.toMatch(
      /\$request\b|\$request_uri|\$args|\$query_string|\$arg_|\$is_args|\$http_referer/,
    );
    const accessLogs = [...conf.matchAll(/access_log\s+([^;]+);/g)].map((m) => m[1]!.trim().split(/\s+/));
    for (const [target, name] of accessLogs) if (target !== 'off') expect(name).toBe('herald');
    expect(directive(ws, 'error_log')).toMatch(/ crit$/);
  });

  it('lets old workers finish a drain on reload: worker_shutdown_timeout', () => {
    expect(ms(directive(conf, 'worker_shutdown_timeout'), 's')).toBeGreaterThanOrEqual(30_000);
  });
});

describe('infra/haproxy/haproxy.cfg', () => {
  const cfg = active(haproxySource);

  it('is accepted by haproxy -c when rendered with 127.0.0.1 upstreams, without warnings', () => {
    const result = checkHaproxyCfg(bins.haproxy);
    expect(result.output).toContain('Configuration file is valid');
    expect(result.output).not.toContain('WARNING');
    expect(result.ok).toBe(true);
  });

  it('renders for tests with the given ports', () => {
    const out = renderHaproxyCfg(haproxySource, { listenPort: 1234, upstreams: [1, 2, 3] });
    expect(out).toMatch(/^\s*bind 127\.0\.0\.1:1234$/m);
    expect(out.match(/server herald-\d 127\.0\.0\.1:\d+/g)).toEqual([
      'server herald-1 127.0.0.1:1',
      'server herald-2 127.0.0.1:2',
      'server herald-3 127.0.0.1:3',
    ]);
  });

  it('balances by least connections, with source-IP hash as a commented alternative', () => {
    expect(directive(cfg, 'balance')).toBe('leastconn');
    expect(cfg).not.toMatch(/balance source/);
    expect(commented(haproxySource)).toEqual(
      expect.arrayContaining(['balance source', 'hash-type consistent']),
    );
    expect(directive(cfg, 'default_backend')).toBe('herald');
    expect([...cfg.matchAll(/^\s*server\s+(\S+)\s+(\S+)/gm)].map((m) => m[2])).toEqual([
      'herald-1:8080',
      'herald-2:8080',
      'herald-3:8080',
    ]);
  });

  it('checks /readyz actively (inter, fall, rise) and does not cut sessions of a node marked down', () => {
    expect(directive(cfg, 'option httpchk')).toBe('GET /readyz');
    expect(directive(cfg, 'http-check expect')).toBe('status 200');
    const server = directive(cfg, 'default-server');
    expect(server).toMatch(/\bcheck\b/);
    expect(server).toMatch(/\binter \d+m?s\b/);
    expect(server).toMatch(/\bfall \d+\b/);
    expect(server).toMatch(/\brise \d+\b/);
    expect(cfg).not.toContain('shutdown-sessions');
  });

  it('keeps tunnels open longer than two heartbeat intervals, and hard-stops long after a drain', () => {
    expect(ms(directive(cfg, 'timeout tunnel'), 'ms')).toBeGreaterThan(2 * HEARTBEAT_MS);
    expect(haproxySource).toMatch(/must exceed 2 x WS_HEARTBEAT_MS/);
    expect(ms(directive(cfg, 'hard-stop-after'), 'ms')).toBeGreaterThanOrEqual(30_000);
  });

  it('passes X-Forwarded-For and X-Forwarded-Proto', () => {
    expect(cfg).toMatch(/^\s*option forwardfor$/m);
    expect(cfg).toMatch(/http-request set-header X-Forwarded-Proto https if \{ ssl_fc \}/);
    expect(cfg).toMatch(/http-request set-header X-Forwarded-Proto http if !\{ ssl_fc \}/);
  });

  it('never logs the query string: a custom log-format with %HP, no %r/%HU/%HQ, no captured headers', () => {
    const format = directive(cfg, 'log-format');
    expect(format).toContain('%HP');
    expect(format).not.toMatch(/%(\{[^}]*\})?(r|HU|HQ)\b/);
    expect(cfg).not.toMatch(/option (httplog|tcplog|httpslog)|capture request|log-format-sd/);
  });
});
