/**
 * How deeply a JSON text nests arrays and objects, found in one pass over its characters (strings
 * skipped, escapes honoured). A REST body nested beyond MAX_JSON_DEPTH is refused before it is parsed:
 * serializing such a value again (`data` is stored as JSON text, idempotency fingerprints hash the
 * body) would overflow the stack.
 */
export const MAX_JSON_DEPTH = 100;

/** True when `text` opens more than `limit` arrays or objects inside one another. */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
