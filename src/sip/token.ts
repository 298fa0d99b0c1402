// Character classes of RFC 3261 §25.1 as lookup tables, plus the small cursor helpers every sip/ parser shares.
// Grammar of whole headers lives in uri.ts, via.ts, name-addr.ts and digest-header.ts; this file knows only chars.

function table(chars: string, ranges: Array<[number, number]> = []): Uint8Array {
  const t = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  for (const [a, b] of ranges) for (let c = a; c <= b; c++) t[c] = 1;
  return t;
}

const ALNUM: Array<[number, number]> = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x61, 0x7a],
];

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") (RFC 3261 §25.1). */
export const TOKEN = table("-.!%*_+`'~", ALNUM);
/** user = 1*( unreserved / escaped / user-unreserved ); '%' is checked separately as an escape. */
export const USER = table("-_.!~*'()&=+$,;?/", ALNUM);
/** password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," ). */
export const PASSWORD = table("-_.!~*'()&=+$,", ALNUM);
/** paramchar = param-unreserved / unreserved / escaped ('%' checked separately). */
export const PARAMCHAR = table("-_.!~*'()[]/:&+$", ALNUM);
/** hvalue / hname characters of URI headers. */
export const HCHAR = table("-_.!~*'()[]/?:+$=&", ALNUM);
/** Hostname and IPv4 characters; IPv6 references are handled apart. */
export const HOSTCHAR = table('-.', ALNUM);
/** Characters allowed in a header parameter value that is not quoted: token plus host (IPv6) chars. */
export const GENVALUE = table("-.!%*_+`'~:[]", ALNUM);
export const HEX = table('', [
  [0x30, 0x39],
  [0x41, 0x46],
  [0x61, 0x66],
]);

/** Index of the first non-SP/HT char at or after i. */
export function skipWs(s: string, i: number): number {
  let c = s.charCodeAt(i);
  while (c === 32 || c === 9) c = s.charCodeAt(++i);
  return i;
}

/** End index of a run of chars in tbl starting at i (i itself when none). */
export function scan(s: string, i: number, tbl: Uint8Array): number {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c > 255 || tbl[c] !== 1) break;
    i++;
  }
  return i;
}

/** End index of a run of chars in tbl in s[i..end) (i itself when none): the bounded scan over a raw message. */
export function scanTo(s: string, i: number, end: number, tbl: Uint8Array): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c > 255 || tbl[c] !== 1) break;
    i++;
  }
  return i;
}

/** Index of the first non-SP/HT char in s[i..end), or end. */
export function skipWsTo(s: string, i: number, end: number): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9) break;
    i++;
  }
  return i;
}

/** True when s is a non-empty token. */
export function isToken(s: string): boolean {
  return s.length > 0 && scan(s, 0, TOKEN) === s.length;
}

/**
 * End index (just past the closing quote) of the quoted-string starting at s[i] === '"', or -1 when it does not close
 * before end. quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F) per RFC 3261 §25.1; a bare CR or LF inside ends it badly.
 */
export function quotedEndTo(s: string, i: number, end: number): number {
  const close = s.indexOf('"', i + 1);
  if (close < 0 || close >= end) return -1; // no '"' at all before end
  const bs = s.indexOf('\\', i + 1);
  if (bs < 0 || bs > close) return close + 1;
  for (i++; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) return i + 1;
    if (c === 92) {
      i++;
      if (i >= end) return -1;
      const q = s.charCodeAt(i);
      if (q === 10 || q === 13) return -1;
    } else if (c === 10 || c === 13) return -1;
  }
  return -1;
}

/** unquote(s.slice(a, b)) where s[a..b) is a whole quoted-string (as quotedEndTo delimits it). */
export function unquoteAt(s: string, a: number, b: number): string {
  const bs = s.indexOf('\\', a + 1);
  if (bs < 0 || bs >= b - 1) return s.slice(a + 1, b - 1);
  return unquote(s.slice(a, b));
}

/** Contents of a quoted-string (quotes removed, quoted-pairs resolved); text without quotes is returned as is. */
function unquote(s: string): string {
  if (s.length < 2 || s.charCodeAt(0) !== 34 || s.charCodeAt(s.length - 1) !== 34) return s;
  const inner = s.slice(1, -1);
  if (inner.indexOf('\\') < 0) return inner;
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '\\' && i + 1 < inner.length) out += inner[++i];
    else out += c;
  }
  return out;
}

/** Wraps text as a quoted-string, escaping '"' and '\'. */
export function quote(s: string): string {
  if (s.indexOf('"') < 0 && s.indexOf('\\') < 0) return '"' + s + '"';
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"' || c === '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

/** ASCII lower-case without allocating when the text has no upper-case letters (sipgo's ASCIIToLower). */
export function lowerAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.toLowerCase();
  }
  return s;
}

/** ASCII upper-case without allocating when already upper-case. */
export function upperAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) return s.toUpperCase();
  }
  return s;
}

/**
 * Parses 1*DIGIT in s[i..end) as an integer no larger than max; returns -1 when empty, non-digit or too large.
 * Leading zeros are fine ("0068" is 68, RFC 4475 §3.1.1.1).
 */
export function parseDigits(s: string, i: number, end: number, max: number): number {
  if (i >= end) return -1;
  let v = 0;
  for (; i < end; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
    if (v > max) return -1;
  }
  return v;
}

/** Largest 32-bit unsigned value: the limit of CSeq numbers and delta-seconds (RFC 3261 §20.16, §20.19). */
export const UINT32_MAX = 4294967295;

/** Known lower-case names bucketed by length, for internAt. */
export type Interner = ReadonlyArray<readonly string[] | undefined>;

/** Builds the by-length table internAt looks names up in. */
export function interner(known: readonly string[]): Interner {
  const t: string[][] = [];
  for (const name of known) (t[name.length] ??= []).push(name);
  for (let i = 0; i < t.length; i++) t[i] ??= [];
  return t;
}

const NO_NAMES: readonly string[] = [];

/**
 * Lower-case name of s[a..b): one of the known lower-case names of the by-length table (a constant, so Map keys hash
 * once) when it matches case-insensitively, else a fresh lower-cased slice.
 */
export function internAt(s: string, a: number, b: number, table: Interner): string {
  const len = b - a;
  const known = len < table.length ? (table[len] as readonly string[]) : NO_NAMES;
  outer: for (let k = 0; k < known.length; k++) {
    const name = known[k];
    for (let j = 0; j < len; j++) {
      const c = s.charCodeAt(a + j);
      const n = name.charCodeAt(j);
      if (c !== n && !(n >= 97 && n <= 122 && (c | 0x20) === n)) continue outer;
    }
    return name;
  }
  return lowerAscii(s.slice(a, b));
}

/** Known lower-case names bucketed by first character, for knownAt. */
export type FirstCharTable = ReadonlyArray<readonly string[]>;

/** Builds the by-first-character table knownAt looks names up in. */
export function firstCharTable(known: readonly string[]): FirstCharTable {
  const t: string[][] = Array.from({ length: 128 }, () => []);
  for (const name of known) t[name.charCodeAt(0)].push(name);
  return t;
}

/**
 * The known name written exactly (lower case, as nearly every UA writes parameter names) at s[i..) and ending there:
 * the next char before end is not a token char. One compare instead of a scan plus a compare (and no startsWith:
 * TurboFan does not inline it); undefined when none matches, and the caller falls back to scanTo + internAt.
 */
export function knownAt(s: string, i: number, end: number, table: FirstCharTable): string | undefined {
  const c = s.charCodeAt(i);
  if (c >= 128) return undefined;
  const names = table[c];
  for (let k = 0; k < names.length; k++) {
    const name = names[k];
    const len = name.length;
    const e = i + len;
    if (e > end) continue;
    let j = 1;
    while (j < len && s.charCodeAt(i + j) === name.charCodeAt(j)) j++;
    if (j < len) continue;
    if (e === end) return name;
    const n = s.charCodeAt(e);
    if (n > 255 || TOKEN[n] !== 1) return name;
  }
  return undefined;
}

/** Start of s[a..b) without leading String.prototype.trim white space (latin1 text: TAB, LF, VT, FF, CR, SP, NBSP). */
export function trimStartJs(s: string, a: number, b: number): number {
  while (a < b && isJsSpace(s.charCodeAt(a))) a++;
  return a;
}

/** End of s[a..b) without trailing String.prototype.trim white space (latin1 text). */
export function trimEndJs(s: string, a: number, b: number): number {
  while (b > a && isJsSpace(s.charCodeAt(b - 1))) b--;
  return b;
}

function isJsSpace(c: number): boolean {
  return (c >= 9 && c <= 13) || c === 32 || c === 160;
}
