// Bencode (the NG control protocol's encoding: rtpengine's docs/ng_protocol.md): strings, integers, lists, dictionaries.
// Talking to rtpengine (cookies, retransmissions, timeouts) is ng-client.ts's.
//
// Own code rather than npm `bencode`: 4.0.1 (ESM, no types) cannot decode with a string encoding on Node 20 (its
// `decode(buf, 'utf8')` throws ERR_INVALID_ARG_TYPE), and without one every value comes back as a Uint8Array to walk
// again; encoding a 1 KB offer took 17 µs there against 3.6 µs here, decoding 8 µs (+ the walk) against 1.6 µs
// (load-tests/micro/bencode.bench.ts), and an anchored call sends three of them.

/** A bencoded value as the edge uses it: strings are UTF-8 text (SDP, call ids, tags), integers are safe integers. */
export type BValue = string | number | BValue[] | { [key: string]: BValue | undefined };

/** Thrown by decode on bytes that are not one complete bencoded value. */
export class BencodeError extends Error {
  override name = 'BencodeError';
}

/** The bencoding of v: dictionary keys sorted (by UTF-16 code unit, which equals byte order for ASCII keys), undefined entries left out. */
export function encode(v: BValue): Buffer {
  const parts: string[] = [];
  put(v, parts);
  return Buffer.from(parts.join(''), 'utf8');
}

function put(v: BValue, parts: string[]): void {
  if (typeof v === 'string') parts.push(Buffer.byteLength(v, 'utf8') + ':', v);
  else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new BencodeError(`bencode integers must be safe integers, got ${v}`);
    parts.push('i' + v + 'e');
  } else if (Array.isArray(v)) {
    parts.push('l');
    for (const e of v) put(e, parts);
    parts.push('e');
  } else {
    parts.push('d');
    for (const k of Object.keys(v).sort()) {
      const x = v[k];
      if (x === undefined) continue;
      parts.push(Buffer.byteLength(k, 'utf8') + ':', k);
      put(x, parts);
    }
    parts.push('e');
  }
}

/** The value bencoded in buf[start..end); throws BencodeError on anything else (truncated, trailing bytes, bad syntax). */
export function decode(buf: Buffer, start = 0, end = buf.length): BValue {
  const r = { i: start };
  const v = next(buf, r, end, 0);
  if (r.i !== end) throw new BencodeError(`bencode: ${end - r.i} bytes after the value`);
  return v;
}

/** Nesting deeper than this is refused (a peer cannot make the decoder recurse without bound). */
const MAX_DEPTH = 32;

function next(buf: Buffer, r: { i: number }, end: number, depth: number): BValue {
  if (r.i >= end) throw new BencodeError('bencode: truncated');
  if (depth > MAX_DEPTH) throw new BencodeError('bencode: nested too deeply');
  const c = buf[r.i]!;
  if (c === 0x64 /* d */) {
    r.i++;
    const o: { [key: string]: BValue } = {};
    while (r.i < end && buf[r.i] !== 0x65) {
      const k = next(buf, r, end, depth + 1);
      if (typeof k !== 'string') throw new BencodeError('bencode: a dictionary key is not a string');
      o[k] = next(buf, r, end, depth + 1);
    }
    if (r.i >= end) throw new BencodeError('bencode: truncated dictionary');
    r.i++;
    return o;
  }
  if (c === 0x6c /* l */) {
    r.i++;
    const a: BValue[] = [];
    while (r.i < end && buf[r.i] !== 0x65) a.push(next(buf, r, end, depth + 1));
    if (r.i >= end) throw new BencodeError('bencode: truncated list');
    r.i++;
    return a;
  }
  if (c === 0x69 /* i */) {
    const e = buf.indexOf(0x65, r.i);
    if (e < 0 || e >= end) throw new BencodeError('bencode: truncated integer');
    const text = buf.toString('latin1', r.i + 1, e);
    if (!/^-?\d+$/.test(text)) throw new BencodeError(`bencode: bad integer "${text}"`);
    r.i = e + 1;
    return Number(text);
  }
  if (c >= 0x30 && c <= 0x39) {
    const colon = buf.indexOf(0x3a, r.i);
    if (colon < 0 || colon >= end) throw new BencodeError('bencode: truncated string length');
    const lenText = buf.toString('latin1', r.i, colon);
    if (!/^\d+$/.test(lenText)) throw new BencodeError(`bencode: bad string length "${lenText}"`);
    const from = colon + 1;
    const to = from + Number(lenText);
    if (to > end) throw new BencodeError('bencode: truncated string');
    r.i = to;
    return buf.toString('utf8', from, to);
  }
  throw new BencodeError(`bencode: unexpected byte 0x${c.toString(16)}`);
}
