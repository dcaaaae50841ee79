/**
 * Admission of WebSocket upgrades that are not authenticated yet. Until its `auth` (or query token)
 * is verified a connection costs the node memory and a parse per frame while nobody is accountable
 * for it: at most `maxUnauthenticated` such connections on the node (more get 503, retryable) and,
 * unless 0, `maxPerIp` per client address (more get 429). A connection's place is given back when it
 * is authenticated or gone.
 *
 * The client address is the TCP peer, or, when that peer is a trusted proxy (TRUSTED_PROXIES), the
 * nearest X-Forwarded-For entry that is not itself a trusted proxy: entries further left were written
 * by the client and prove nothing.
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

export type Refusal = 'node' | 'ip';

/**
 * Places per client address, at most `max` each: `take` answers a release function (idempotent) for
 * the place taken, or undefined when the address holds them all. Serves the unauthenticated
 * connections per address and the guests per address alike.
 */
export class PlacesPerAddress {
  private readonly held = new Map<string, number>();

  constructor(private readonly max: number) {}

  take(ip: string): (() => void) | undefined {
    const held = this.held.get(ip) ?? 0;
    if (held >= this.max) return undefined;
    this.held.set(ip, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(ip) ?? 1) - 1;
      if (left === 0) this.held.delete(ip);
      else this.held.set(ip, left);
    };
  }
}

export class Admission {
  private pending = 0;
  /** Undefined when places are not counted per address (WS_MAX_UNAUTHENTICATED_PER_IP=0). */
  private readonly perIp: PlacesPerAddress | undefined;

  constructor(
    private readonly maxUnauthenticated: number,
    maxPerIp: number,
  ) {
    this.perIp = maxPerIp > 0 ? new PlacesPerAddress(maxPerIp) : undefined;
  }

  /** Not authenticated yet, on this node. */
  get unauthenticated(): number {
    return this.pending;
  }

  /** Whether places are counted per client address (admit then needs the address). */
  get perAddress(): boolean {
    return this.perIp !== undefined;
  }

  /**
   * A release function for the place taken (idempotent), or why there is none. `ip` (the client
   * address) only matters when perAddress.
   */
  admit(ip: string | undefined): (() => void) | Refusal {
    if (this.pending >= this.maxUnauthenticated) return 'node';
    const releaseIp = this.perIp !== undefined && ip !== undefined ? this.perIp.take(ip) : NOTHING;
    if (releaseIp === undefined) return 'ip';
    this.pending += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pending -= 1;
      releaseIp();
    };
  }
}

const NOTHING = (): void => undefined;

export class ClientAddress {
  private readonly trusted: BlockList | undefined;

  /** `proxies`: addresses and CIDR ranges (validated by the configuration). */
  constructor(proxies: readonly string[]) {
    if (proxies.length === 0) return;
    this.trusted = new BlockList();
    for (const entry of proxies) {
      const [address, bits] = entry.split('/') as [string, string | undefined];
      const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.trusted.addAddress(address, type);
      else this.trusted.addSubnet(address, Number(bits), type);
    }
  }

  of(req: IncomingMessage): string {
    const peer = normalize(req.socket.remoteAddress ?? '');
    if (this.trusted === undefined || !this.isTrusted(peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((hop) => normalize(hop.trim()))
      .filter((hop) => isIP(hop) !== 0);
    for (let i = hops.length - 1; i >= 0; i--) if (!this.isTrusted(hops[i]!)) return hops[i]!;
    return hops[0] ?? peer;
  }

  private isTrusted(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.trusted!.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** An IPv4 address mapped into IPv6 (::ffff:1.2.3.4) as the IPv4 address. */
function normalize(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
