// Header name → id table: one lookup for full names in any case and the compact forms (RFC 3261 §7.3.3, §20).
// The parser indexes lines by these ids; what each header means is decided by parser.ts accessors and the layers above.

export const H_UNKNOWN = 0;
export const H_VIA = 1;
export const H_FROM = 2;
export const H_TO = 3;
export const H_CALL_ID = 4;
export const H_CSEQ = 5;
export const H_CONTACT = 6;
export const H_CONTENT_LENGTH = 7;
export const H_MAX_FORWARDS = 9;
export const H_EXPIRES = 10;
export const H_AUTHORIZATION = 11;
export const H_PROXY_AUTHORIZATION = 12;
export const H_USER_AGENT = 13;

/** Canonical spelling per id; the index is the id. Ids past the named constants are other known headers. */
const CANONICAL: readonly string[] = [
  '',
  'Via',
  'From',
  'To',
  'Call-ID',
  'CSeq',
  'Contact',
  'Content-Length',
  'Content-Type',
  'Max-Forwards',
  'Expires',
  'Authorization',
  'Proxy-Authorization',
  'User-Agent',
  'Route',
  'Record-Route',
  'Path',
  'Supported',
  'Require',
  'Proxy-Require',
  'Content-Encoding',
  'Subject',
  'Event',
  'Allow-Events',
  'Refer-To',
  'Referred-By',
  'Session-Expires',
  'Identity',
  'Accept-Contact',
  'Reject-Contact',
  'Request-Disposition',
  'Identity-Info',
  'WWW-Authenticate',
  'Proxy-Authenticate',
  'Allow',
  'Accept',
  'Server',
  'Unsupported',
  'Min-Expires',
  'Timestamp',
  'Date',
  'Warning',
  'Retry-After',
];

/** Compact forms (RFC 3261 §7.3.3 and the IANA SIP header registry). */
const COMPACT_FORMS: Record<string, string> = {
  a: 'Accept-Contact',
  b: 'Referred-By',
  c: 'Content-Type',
  d: 'Request-Disposition',
  e: 'Content-Encoding',
  f: 'From',
  i: 'Call-ID',
  j: 'Reject-Contact',
  k: 'Supported',
  l: 'Content-Length',
  m: 'Contact',
  n: 'Identity-Info',
  o: 'Event',
  r: 'Refer-To',
  s: 'Subject',
  t: 'To',
  u: 'Allow-Events',
  v: 'Via',
  x: 'Session-Expires',
  y: 'Identity',
};

const COMPACT = new Uint8Array(128);
for (const [letter, canonical] of Object.entries(COMPACT_FORMS)) {
  const id = CANONICAL.indexOf(canonical);
  COMPACT[letter.charCodeAt(0)] = id;
  COMPACT[letter.toUpperCase().charCodeAt(0)] = id;
}

/** Longest known name. */
const MAX_LEN = CANONICAL.reduce((m, n) => Math.max(m, n.length), 0);

/**
 * Known lower-case names keyed by length and first letter ((len << 5) | (first & 31)): almost always one candidate,
 * for the allocation-free lookup in headerIdAt. Ids and names are kept in parallel flat arrays per key.
 */
const KEY_IDS: number[][] = Array.from({ length: (MAX_LEN + 1) << 5 }, () => []);
const KEY_NAMES: string[][] = Array.from({ length: (MAX_LEN + 1) << 5 }, () => []);
for (let id = 1; id < CANONICAL.length; id++) {
  const lower = CANONICAL[id].toLowerCase();
  const key = (lower.length << 5) | (lower.charCodeAt(0) & 31);
  KEY_IDS[key].push(id);
  KEY_NAMES[key].push(lower);
}

/**
 * Id of the header name s[a..b) without slicing or hashing it: bucket by length and first letter, then compare
 * case-insensitively (undici-style lookup; load-tests/micro/parser.bench.ts measures the parse loop).
 */
export function headerIdAt(s: string, a: number, b: number): number {
  const len = b - a;
  const c0 = s.charCodeAt(a);
  if (len === 1) return c0 < 128 ? COMPACT[c0] : H_UNKNOWN;
  const l0 = c0 | 0x20;
  if (l0 < 97 || l0 > 122 || len > MAX_LEN) return H_UNKNOWN;
  const key = (len << 5) | (l0 & 31);
  const names = KEY_NAMES[key];
  outer: for (let k = 0; k < names.length; k++) {
    const name = names[k];
    for (let j = 1; j < len; j++) {
      const c = s.charCodeAt(a + j);
      const n = name.charCodeAt(j);
      if (c !== n && !(n >= 97 && n <= 122 && (c | 0x20) === n)) continue outer;
    }
    return KEY_IDS[key][k];
  }
  return H_UNKNOWN;
}

/** Number of ids (known headers plus H_UNKNOWN): the size of per-id tables. */
export const HEADER_ID_COUNT = CANONICAL.length;

/** Id of a header name in any case, full or compact; H_UNKNOWN (0) for headers outside the table. */
export function headerId(name: string): number {
  return name.length === 0 ? H_UNKNOWN : headerIdAt(name, 0, name.length);
}
