/**
 * The browser SDK bundle (`npm run build` writes dist/client/herald-client.js), as the demo and the
 * operator console pages load it. Read once and kept; while it is not built, every call looks again.
 */
import { readFile } from 'node:fs/promises';

/** Where the bundle is, seen from dist/services/api or from the source tree. */
const BUNDLE_CANDIDATES = [
  new URL('../../client/herald-client.js', import.meta.url),
  new URL('../../dist/client/herald-client.js', import.meta.url),
];

let bundle: Promise<string | undefined> | undefined;

/** The bundle's text, or undefined when it is not built. */
export function loadClientBundle(): Promise<string | undefined> {
  return (bundle ??= (async () => {
    for (const candidate of BUNDLE_CANDIDATES) {
      const text = await readFile(candidate, 'utf8').catch(() => undefined);
      if (text !== undefined) return text;
    }
    bundle = undefined; // built later: look again next time
    return undefined;
  })());
}
