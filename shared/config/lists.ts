/**
 * The options that are comma-separated lists (their schema says only "a string"): each parser returns the
 * entries it understood and adds one problem per bad entry, naming the variable and the entry.
 */
import { isIP } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

/** Redis behind Sentinel: the sentinels to ask, and the name of the primary they watch. */
export interface RedisSentinelTarget {
  sentinels: HostPort[];
  name: string;
}

/** REDIS_SENTINELS (host:port, …) with REDIS_SENTINEL_NAME; undefined when neither is set. */
export function parseSentinels(
  raw: string | undefined,
  name: string | undefined,
  problems: string[],
): RedisSentinelTarget | undefined {
  if (raw === undefined) {
    if (name !== undefined) problems.push('REDIS_SENTINEL_NAME needs REDIS_SENTINELS');
    return undefined;
  }
  const sentinels = parseHostPorts('REDIS_SENTINELS', raw, problems);
  if (name === undefined) problems.push('REDIS_SENTINELS needs REDIS_SENTINEL_NAME (the monitored primary)');
  return sentinels.length > 0 && name !== undefined ? { sentinels, name } : undefined;
}

/** A comma-separated host:port list (IPv6 in brackets); each bad entry is a problem. */
export function parseHostPorts(name: string, raw: string, problems: string[]): HostPort[] {
  const list: HostPort[] = [];
  for (const entry of raw.split(',').map((e) => e.trim())) {
    const match = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[2]);
    if (match === null || port < 1 || port > 65_535) {
      problems.push(`${name} entry ${JSON.stringify(entry)} must be host:port`);
      continue;
    }
    list.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
  }
  return list;
}

/** The non-empty, trimmed entries of a comma-separated list. */
function entries(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
}

/** ALLOWED_ORIGINS: scheme and host of each origin; `*` alone (or unset) means any origin, i.e. []. */
export function parseOrigins(raw: string | undefined, problems: string[]): string[] {
  const all = entries(raw);
  const origins = all.filter((o) => o !== '*');
  if (all.includes('*') && origins.length > 0) {
    problems.push('ALLOWED_ORIGINS mixes * (any origin) with a list of origins; use one or the other');
  }
  for (const origin of origins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      problems.push(
        `ALLOWED_ORIGINS entry ${JSON.stringify(origin)} must look like https://shop.example.com (no path)`,
      );
    }
  }
  return origins;
}

/** TRUSTED_PROXIES: IP addresses and CIDR ranges, kept as written. */
export function parseTrustedProxies(raw: string | undefined, problems: string[]): string[] {
  const proxies = entries(raw);
  for (const entry of proxies) {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const maxBits = family === 6 ? 128 : 32;
    if (
      family === 0 ||
      extra !== undefined ||
      (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits))
    )
      problems.push(`TRUSTED_PROXIES entry ${JSON.stringify(entry)} must be an IP address or CIDR range`);
  }
  return proxies;
}
