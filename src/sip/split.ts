// Top-level comma split of header values (RFC 3261 §7.3.1): commas inside quoted-strings and <...> do not split.
// Which headers are lists, and what each element means, is decided by the callers (parser.ts, name-addr.ts).

/**
 * Splits a header value at commas outside quotes and angle brackets; each element is trimmed of SP/HT.
 * Empty elements are kept as '' so that strict callers (Contact) can reject them.
 */
export function splitTopLevel(value: string): string[] {
  const out: string[] = [];
  const n = value.length;
  let start = 0;
  let inQuote = false;
  let inAngle = false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 92) i++;
      else if (c === 34) inQuote = false;
    } else if (c === 34) inQuote = true;
    else if (c === 60) inAngle = true;
    else if (c === 62) inAngle = false;
    else if (c === 44 && !inAngle) {
      out.push(trimWs(value, start, i));
      start = i + 1;
    }
  }
  out.push(trimWs(value, start, n));
  return out;
}

/** s[a..b) without leading and trailing SP/HT. */
export function trimWs(s: string, a: number, b: number): string {
  while (a < b) {
    const c = s.charCodeAt(a);
    if (c !== 32 && c !== 9) break;
    a++;
  }
  while (b > a) {
    const c = s.charCodeAt(b - 1);
    if (c !== 32 && c !== 9) break;
    b--;
  }
  return a === 0 && b === s.length ? s : s.slice(a, b);
}
