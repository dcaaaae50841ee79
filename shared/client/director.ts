/**
 * Asking the director (`GET /v1/connect`, answered by any node) which node to connect to.
 *
 * Why: where clients reach nodes directly (no balancer), a fixed `url` sends every reconnect back to
 * the same node — the one that is draining, down, or above its share. With the `director` option the
 * client asks before each attempt and connects to the live, least-loaded node it names. The director
 * is advice, never a dependency: no answer in time, an error status, or an answer without a ws(s) URL,
 * and the attempt goes to the configured `url` instead, so a director outage costs no connection.
 */

/** The part of `fetch` the director needs (global in browsers and Node 18+). */
export type FetchLike = (
  url: string,
  init: { signal: AbortSignal; headers: Record<string, string>; credentials: 'omit' },
) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

/** What the director said: a URL to connect to, or why the configured `url` is used instead. */
export type DirectorAnswer = { url: string; node?: string } | { url: undefined; reason: string };

const WS_URL = /^wss?:\/\//i;

export class Director {
  constructor(
    private readonly endpoint: string,
    private readonly timeoutMs: number,
    private readonly fetchImpl: FetchLike,
  ) {
    if (!/^https?:\/\//i.test(endpoint))
      throw new TypeError('director must be an http(s) URL of /v1/connect');
    if (!(timeoutMs > 0)) throw new TypeError('directorTimeoutMs must be a positive number');
  }

  /** Asks once; never rejects (a failure is an answer without `url`). */
  async ask(): Promise<DirectorAnswer> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    try {
      const response = await this.fetchImpl(this.endpoint, {
        signal: controller.signal,
        headers: { accept: 'application/json' },
        credentials: 'omit',
      });
      if (!response.ok) return { url: undefined, reason: `director answered ${response.status}` };
      const body = (await response.json()) as { url?: unknown; node?: unknown } | null;
      const url = body?.url;
      if (typeof url !== 'string' || !WS_URL.test(url))
        return { url: undefined, reason: 'director answer has no ws(s) url' };
      return typeof body?.node === 'string' ? { url, node: body.node } : { url };
    } catch (err) {
      const reason = controller.signal.aborted
        ? `director did not answer within ${this.timeoutMs} ms`
        : `director unreachable: ${err instanceof Error ? err.message : String(err)}`;
      return { url: undefined, reason };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The environment's `fetch`, if there is one. */
export function globalFetch(): FetchLike | undefined {
  const f = (globalThis as { fetch?: FetchLike }).fetch;
  return typeof f === 'function' ? f.bind(globalThis) : undefined;
}
