// Bencode (the NG control protocol's encoding: rtpengine's docs/ng_protocol.md): strings, integers, lists, dictionaries.
// Talking to rtpengine (cookies, retransmissions, timeouts) is ng-client.ts's.
//
// Own code rather than npm `bencode`: 4.0.1 (ESM, no types) cannot decode with a string encoding on Node 20 (its
// `decode(buf, 'utf8')` throws ERR_INVALID_ARG_TYPE), and without one every value comes back as a Uint8Array to walk
// again; it also builds each encoding from intermediate strings. Here an encoding is written straight into one buffer
// (an SDP given as bytes is copied, never turned into a string), and a decode can keep only the keys its caller reads,
// stepping over the rest without building them (load-tests/micro/bencode.bench.ts: an offer command and rtpengine's
// real offer, answer and delete replies).

/** A decoded bencoded value as the edge uses it: strings are UTF-8 text (call ids, tags, flags), integers are safe integers. */
export type BValue = string | number | BValue[] | { [key: string]: BValue | undefined };

/** What encode takes: a BValue, where a byte string may also be given as bytes (an SDP body as it came). */
export type Bencodable = string | number | Uint8Array | Bencodable[] | { readonly [key: string]: Bencodable | undefined };

/** Thrown by decode on bytes that are not one complete bencoded value. */
export class BencodeError extends Error {
  override name = 'BencodeError';
}

/** Grows as needed and is reused by every encode (each result is copied out of it). */
let scratch = Buffer.allocUnsafe(16 * 1024);

/** Thrown by put when scratch is too short: encode doubles it and starts again. */
class ScratchFull extends Error {}

/** A dictionary as encode takes it. */
export type BencodableDict = { readonly [key: string]: Bencodable | undefined };

/**
 * The bencoding of v: dictionary keys sorted (by UTF-16 code unit, which equals byte order for ASCII keys), undefined
 * entries left out.
 */
export function encode(v: Bencodable): Buffer {
  return encodeWith('', v, undefined);
}

/**
 * `prefix` (latin1, e.g. an NG cookie and its space), then the one dictionary holding the entries of all of parts (a
 * command's own entries and constant flags, without building a merged object); a key in two parts is taken from the
 * first that has it defined. Parts are plain objects (their enumerable keys are read with for-in).
 */
export function encodeMerged(prefix: string, parts: readonly BencodableDict[]): Buffer {
  return encodeWith(prefix, undefined, parts);
}

/** Writes prefix and then v, or the merged parts, into scratch until it is long enough; a copy of what it wrote. */
function encodeWith(prefix: string, v: Bencodable | undefined, parts: readonly BencodableDict[] | undefined): Buffer {
  for (;;) {
    try {
      if (prefix.length > scratch.length) throw new ScratchFull();
      const at = scratch.write(prefix, 0, 'latin1');
      const end = parts === undefined ? put(v!, at, scratch) : putMerged(parts, at, scratch);
      return Buffer.from(scratch.subarray(0, end));
    } catch (e) {
      if (!(e instanceof ScratchFull)) throw e;
      scratch = Buffer.allocUnsafe(scratch.length * 2);
    }
  }
}

/**
 * The merged keys of putMerged, sorted as they are collected; reused by every merge (merges do not nest), so that a
 * command allocates no key arrays, iterators or sort buffer: those were ~7.6 KB of the ~29 KB a bridged call allocates
 * more than a plain one (a sampling heap profile of the edge under npm run bench -- --anchor).
 */
const mergedKeys: string[] = [];

/** The dictionary of the entries of all of parts (see encodeMerged) at `at` in out; returns where it ends. */
function putMerged(parts: readonly BencodableDict[], at: number, out: Buffer): number {
  const keys = mergedKeys;
  let n = 0;
  for (let p = 0; p < parts.length; p++) {
    const d = parts[p]!;
    for (const k in d) {
      // Insertion into the sorted keys (a dozen or so), a key already there once.
      let i = n;
      while (i > 0 && keys[i - 1]! > k) i--;
      if (i > 0 && keys[i - 1] === k) continue;
      for (let j = n; j > i; j--) keys[j] = keys[j - 1]!;
      keys[i] = k;
      n++;
    }
  }
  at = putByte(0x64 /* d */, at, out);
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    let x: Bencodable | undefined;
    for (let p = 0; x === undefined && p < parts.length; p++) x = parts[p]![k];
    if (x === undefined) continue;
    at = put(k, at, out);
    at = put(x, at, out);
  }
  return putByte(0x65 /* e */, at, out);
}

/** Writes v at `at` in out; returns where it ends. ScratchFull when out is too short. */
function put(v: Bencodable, at: number, out: Buffer): number {
  if (typeof v === 'string') {
    if (v.length <= SHORT) {
      // Keys and flags: ASCII written byte by byte (Buffer's write and byteLength cost more than the copy here).
      const n = v.length;
      const start = putLength(n, at, out);
      if (start + n > out.length) throw new ScratchFull();
      let i = 0;
      for (; i < n; i++) {
        const c = v.charCodeAt(i);
        if (c >= 0x80) break;
        out[start + i] = c;
      }
      if (i === n) return start + n;
    }
    const n = Buffer.byteLength(v, 'utf8');
    at = putLength(n, at, out);
    if (at + n > out.length) throw new ScratchFull();
    return at + out.write(v, at, 'utf8');
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new BencodeError(`bencode integers must be safe integers, got ${v}`);
    at = putByte(0x69 /* i */, at, out);
    if (v < 0) {
      at = putByte(0x2d /* - */, at, out);
      v = -v;
    }
    return putByte(0x65 /* e */, putDigits(v, at, out), out);
  }
  if (v instanceof Uint8Array) {
    at = putLength(v.length, at, out);
    if (at + v.length > out.length) throw new ScratchFull();
    out.set(v, at);
    return at + v.length;
  }
  if (Array.isArray(v)) {
    at = putByte(0x6c /* l */, at, out);
    for (const e of v) at = put(e, at, out);
    return putByte(0x65 /* e */, at, out);
  }
  at = putByte(0x64 /* d */, at, out);
  const dict = v as BencodableDict;
  for (const k of Object.keys(dict).sort()) {
    const x = dict[k];
    if (x === undefined) continue;
    at = put(k, at, out);
    at = put(x, at, out);
  }
  return putByte(0x65 /* e */, at, out);
}

/** Strings up to this many UTF-16 units are tried as ASCII first; SDP and longer go through Buffer's UTF-8 write. */
const SHORT = 64;

function putLength(n: number, at: number, out: Buffer): number {
  return putByte(0x3a /* : */, putDigits(n, at, out), out);
}

/** The decimal digits of a non-negative safe integer. */
function putDigits(n: number, at: number, out: Buffer): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  if (at + digits > out.length) throw new ScratchFull();
  for (let i = at + digits - 1; i >= at; i--) {
    out[i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  return at + digits;
}

function putByte(b: number, at: number, out: Buffer): number {
  if (at >= out.length) throw new ScratchFull();
  out[at] = b;
  return at + 1;
}

/** The value bencoded in buf[start..end); throws BencodeError on anything else (truncated, trailing bytes, bad syntax). */
export function decode(buf: Buffer, start = 0, end = buf.length): BValue {
  const r = { i: start };
  const v = next(buf, r, end, 0);
  if (r.i !== end) throw new BencodeError(`bencode: ${end - r.i} bytes after the value`);
  return v;
}

/** A dictionary decoded by decodeDict: a key in its `bytes` holds its string as bytes. */
export type BDictWithBytes = { [key: string]: BValue | Buffer | undefined };

/**
 * As decode, where the value must be a dictionary. With `keep`, only its keys in keep are decoded: the others are
 * checked and stepped over without building them (a `delete` reply's counters when nobody reads them). A key in `bytes`
 * whose value is a string gets that string as bytes (a view of buf, never turned into text: an SDP on its way back into
 * a SIP message).
 */
export function decodeDict(buf: Buffer, start: number, end: number, keep: ReadonlySet<string> | undefined, bytes: ReadonlySet<string>): BDictWithBytes {
  if (buf[start] !== 0x64 /* d */) throw new BencodeError('bencode: not a dictionary');
  const r = { i: start };
  const v = dictionary(buf, r, end, 0, keep, bytes);
  if (r.i !== end) throw new BencodeError(`bencode: ${end - r.i} bytes after the value`);
  return v;
}

/** Nesting deeper than this is refused (a peer cannot make the decoder recurse without bound). */
const MAX_DEPTH = 32;

function next(buf: Buffer, r: { i: number }, end: number, depth: number): BValue {
  if (r.i >= end) throw new BencodeError('bencode: truncated');
  if (depth > MAX_DEPTH) throw new BencodeError('bencode: nested too deeply');
  const c = buf[r.i]!;
  if (c === 0x64 /* d */) return dictionary(buf, r, end, depth, undefined, undefined) as BValue;
  if (c === 0x6c /* l */) {
    r.i++;
    const a: BValue[] = [];
    while (r.i < end && buf[r.i] !== 0x65) a.push(next(buf, r, end, depth + 1));
    if (r.i >= end) throw new BencodeError('bencode: truncated list');
    r.i++;
    return a;
  }
  if (c === 0x69 /* i */) return integer(buf, r, end);
  if (c >= 0x30 && c <= 0x39) {
    const from = stringStart(buf, r, end);
    return text(buf, from, r.i);
  }
  throw new BencodeError(`bencode: unexpected byte 0x${c.toString(16)}`);
}

/**
 * The dictionary at r.i (its 'd'), with only the keys in keep when keep is given; a string value of a key in bytes
 * as a view of buf (only decodeDict passes bytes, so only its result holds Buffers).
 */
function dictionary(
  buf: Buffer,
  r: { i: number },
  end: number,
  depth: number,
  keep: ReadonlySet<string> | undefined,
  bytes: ReadonlySet<string> | undefined,
): BDictWithBytes {
  r.i++;
  const o: BDictWithBytes = {};
  while (r.i < end && buf[r.i] !== 0x65) {
    const c = buf[r.i]!;
    if (c < 0x30 || c > 0x39) throw new BencodeError('bencode: a dictionary key is not a string');
    const from = stringStart(buf, r, end);
    const k = text(buf, from, r.i);
    if (keep !== undefined && !keep.has(k)) skip(buf, r, end, depth + 1);
    else if (bytes !== undefined && bytes.has(k) && buf[r.i]! >= 0x30 && buf[r.i]! <= 0x39) {
      const at = stringStart(buf, r, end);
      o[k] = buf.subarray(at, r.i);
    } else o[k] = next(buf, r, end, depth + 1);
  }
  if (r.i >= end) throw new BencodeError('bencode: truncated dictionary');
  r.i++;
  return o;
}

/** Steps over the value at r.i, checking it as next would, without building it. */
function skip(buf: Buffer, r: { i: number }, end: number, depth: number): void {
  if (r.i >= end) throw new BencodeError('bencode: truncated');
  if (depth > MAX_DEPTH) throw new BencodeError('bencode: nested too deeply');
  const c = buf[r.i]!;
  if (c === 0x64 /* d */ || c === 0x6c /* l */) {
    const isDict = c === 0x64;
    r.i++;
    // In a dictionary, every other value is a key, and a key is a string.
    for (let isKey = isDict; r.i < end && buf[r.i] !== 0x65; isKey = isDict && !isKey) {
      if (isKey && !(buf[r.i]! >= 0x30 && buf[r.i]! <= 0x39)) throw new BencodeError('bencode: a dictionary key is not a string');
      skip(buf, r, end, depth + 1);
    }
    if (r.i >= end) throw new BencodeError(isDict ? 'bencode: truncated dictionary' : 'bencode: truncated list');
    r.i++;
  } else if (c === 0x69 /* i */) integer(buf, r, end);
  else if (c >= 0x30 && c <= 0x39) stringStart(buf, r, end);
  else throw new BencodeError(`bencode: unexpected byte 0x${c.toString(16)}`);
}

/** The integer at r.i ('i', optional '-', digits, 'e'), read without a string. */
function integer(buf: Buffer, r: { i: number }, end: number): number {
  let i = r.i + 1;
  const negative = buf[i] === 0x2d; /* - */
  if (negative) i++;
  const first = i;
  let n = 0;
  for (; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  if (i >= end) throw new BencodeError('bencode: truncated integer');
  if (buf[i] !== 0x65 || i === first) throw new BencodeError(`bencode: bad integer at byte ${r.i}`);
  if (!Number.isSafeInteger(n)) throw new BencodeError(`bencode: integer out of range at byte ${r.i}`);
  r.i = i + 1;
  return negative ? -n : n;
}

/** buf[from..to) as UTF-8 text; short ASCII ones (keys, tags, flags) built here, which costs less than a Buffer call. */
function text(buf: Buffer, from: number, to: number): string {
  if (to - from <= SHORT_TEXT) {
    let s = '';
    for (let i = from; i < to; i++) {
      const c = buf[i]!;
      if (c >= 0x80) return buf.toString('utf8', from, to);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return buf.toString('utf8', from, to);
}

/** Decoded strings up to this many bytes are tried as ASCII in JavaScript. */
const SHORT_TEXT = 24;

/** Reads a string's length prefix at r.i; returns where its bytes start and leaves r.i after them. */
function stringStart(buf: Buffer, r: { i: number }, end: number): number {
  let i = r.i;
  let n = 0;
  for (; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  if (i >= end) throw new BencodeError('bencode: truncated string length');
  if (buf[i] !== 0x3a || i === r.i) throw new BencodeError(`bencode: bad string length at byte ${r.i}`);
  const to = i + 1 + n;
  if (to > end) throw new BencodeError('bencode: truncated string');
  r.i = to;
  return i + 1;
}
