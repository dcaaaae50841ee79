import { timingSafeEqual, createHash } from 'node:crypto';

export const SCOPES = ['publish', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  name: string;
  key: string;
  scopes: ReadonlySet<Scope>;
}

/** Parses `name:key:scope+scope,…`. Returns every problem rather than stopping at the first. */
export function parseApiKeys(raw: string, minKeyLength: number): { keys: ApiKey[]; problems: string[] } {
  const keys: ApiKey[] = [];
  const problems: string[] = [];
  const names = new Set<string>();
  raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .forEach((entry, index) => {
      const parts = entry.split(':');
      const [name, key, scopeList] = parts;
      const where = `entry ${index + 1}${name ? ` (${name})` : ''}`;
      if (parts.length !== 3 || !name || !key || !scopeList) {
        problems.push(`${where} must be name:key:scope+scope`);
        return;
      }
      if (names.has(name)) problems.push(`${where}: name is used twice`);
      names.add(name);
      if (key.length < minKeyLength)
        problems.push(`${where}: key must be at least ${minKeyLength} characters`);
      const scopes = new Set<Scope>();
      for (const scope of scopeList.split('+')) {
        if ((SCOPES as readonly string[]).includes(scope)) scopes.add(scope as Scope);
        else problems.push(`${where}: unknown scope ${JSON.stringify(scope)} (known: ${SCOPES.join(', ')})`);
      }
      keys.push({ name, key, scopes });
    });
  if (keys.length === 0 && problems.length === 0) problems.push('no keys given');
  return { keys, problems };
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * The configured API keys, looked up in constant time: every key is compared (as SHA-256 digests, so
 * lengths never leak), whether or not an earlier one matched.
 */
export class ApiKeyring {
  private readonly entries: { key: ApiKey; digest: Buffer }[];

  constructor(keys: readonly ApiKey[]) {
    this.entries = keys.map((key) => ({ key, digest: digest(key.key) }));
  }

  find(presented: string): ApiKey | undefined {
    const presentedDigest = digest(presented);
    let found: ApiKey | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, presentedDigest) && found === undefined) found = entry.key;
    }
    return found;
  }
}

/** `admin` implies every scope. */
export const hasScope = (key: ApiKey, scope: Scope): boolean =>
  key.scopes.has(scope) || key.scopes.has('admin');
