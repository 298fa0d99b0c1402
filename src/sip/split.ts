// Top-level comma split of header values (RFC 3261 §7.3.1): commas inside quoted-strings and <...> do not split.
// Which headers are lists, and what each element means, is decided by the callers (parser.ts, name-addr.ts).

/**
 * Offset of the first comma in s[a..b) outside quoted-strings (with quoted-pairs) and <...>, or -1. Both states are
 * closed at a top-level comma, so callers split a list by calling this again from the offset after it.
 */
export function topLevelComma(s: string, a: number, b: number): number {
  let inQuote = false;
  let inAngle = false;
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (inQuote) {
      if (c === 92) i++;
      else if (c === 34) inQuote = false;
    } else if (c === 34) inQuote = true;
    else if (c === 60) inAngle = true;
    else if (c === 62) inAngle = false;
    else if (c === 44 && !inAngle) return i;
  }
  return -1;
}

/**
 * Splits a header value at commas outside quotes and angle brackets; each element is trimmed of SP/HT.
 * Empty elements are kept as '' so that strict callers (Contact) can reject them.
 */
export function splitTopLevel(value: string): string[] {
  const out: string[] = [];
  const n = value.length;
  let start = 0;
  for (let comma = topLevelComma(value, 0, n); comma >= 0; comma = topLevelComma(value, start, n)) {
    out.push(trimWs(value, start, comma));
    start = comma + 1;
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
