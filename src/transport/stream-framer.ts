// Stream framing for SIP over TCP (RFC 3261 §18.3): Content-Length delimits each message; CRLF keep-alives (RFC 5626 §4.4.1).
// Knows nothing of sockets or parsing: tcp.ts feeds chunks and acts on the sink calls; sip/ parses the frames.
import { SipError } from '../sip/types.ts';

/** What a framer reports; tcp.ts implements it once per connection (no closure per chunk). */
export interface FrameSink {
  /** One whole message. A view of the chunk when it arrived in one piece, else a copy (safe to keep). */
  onFrame(frame: Buffer): void;
  /** A double-CRLF ping arrived; answer with a single CRLF pong (RFC 5626 §4.4.1). */
  onPing(): void;
  /** A complete header section whose framing is broken (no or bad Content-Length, too large): answer it. */
  onMalformedFrame(head: Buffer, error: SipError): void;
}

/** Why a stream can no longer be framed and must be closed. */
export type FramingFailure = 'header-too-large' | 'body-too-large' | 'bad-content-length';

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;
const COLON = 58;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
/** contentLength() results below zero. */
const MISSING = -1;
const MALFORMED = -2;
/** Larger values are clamped: anything this big is over every allowed limit (max 1 MiB). */
const HUGE = 1_000_000_000;
/** An idle accumulation buffer larger than this is released instead of kept for the next message. */
const KEEP_BUFFER_BYTES = 16_384;

/**
 * Splits a byte stream into SIP messages. Memory is bounded by maxMessageBytes plus one chunk; a message split in
 * 1-byte chunks costs O(n) (appends into a growing buffer, CRLFCRLF search resumes where it stopped).
 */
export class StreamFramer {
  private pending: Buffer | undefined;
  private pendingLen = 0;
  /** Bytes of the current partial message already searched for CRLFCRLF without success. */
  private scanned = 0;
  /** Total length of the current message once its header section is read; 0 while unknown. */
  private expected = 0;
  private failure: FramingFailure | undefined;

  constructor(private readonly maxMessageBytes: number) {}

  /** True while part of a message (not only CRLF keep-alive bytes) waits for more input. */
  get hasPartialMessage(): boolean {
    if (this.pending === undefined || this.pendingLen === 0) return false;
    const b = this.pending[0];
    return b !== CR && b !== LF;
  }

  /** Feeds one chunk; returns the failure once the stream cannot be framed any more (then close it). */
  push(chunk: Buffer, sink: FrameSink): FramingFailure | undefined {
    if (this.failure !== undefined) return this.failure;
    if (this.pendingLen === 0) {
      // Fast path: messages that arrive whole are handed up as views of the chunk, with no copy.
      const used = this.drain(chunk, chunk.length, true, sink);
      if (used < 0) return this.failure;
      if (used < chunk.length) {
        this.reserve(chunk.length - used);
        chunk.copy(this.pending as Buffer, 0, used);
        this.pendingLen = chunk.length - used;
      }
      return undefined;
    }
    this.reserve(this.pendingLen + chunk.length);
    const buf = this.pending as Buffer;
    chunk.copy(buf, this.pendingLen);
    this.pendingLen += chunk.length;
    const used = this.drain(buf, this.pendingLen, false, sink);
    if (used < 0) return this.failure;
    if (used > 0) {
      buf.copyWithin(0, used, this.pendingLen);
      this.pendingLen -= used;
    }
    if (this.pendingLen === 0 && buf.length > KEEP_BUFFER_BYTES) this.pending = undefined;
    return undefined;
  }

  /** Frames what it can from buf[0, end); returns the bytes consumed, or -1 after a failure. */
  private drain(buf: Buffer, end: number, isView: boolean, sink: FrameSink): number {
    const max = this.maxMessageBytes;
    let pos = 0;
    while (pos < end) {
      if (this.expected === 0) {
        const b = buf[pos];
        if (b === CR || b === LF) {
          // Between messages. RFC 5626 §4.4.1: CRLFCRLF is a ping, answered with CRLF; a lone CRLF is skipped.
          if (b === LF || end - pos < 2) {
            if (b === LF) pos += 1;
            else break; // a CR alone: wait to see what follows
            continue;
          }
          if (buf[pos + 1] !== LF) {
            pos += 1;
            continue;
          }
          if (end - pos < 4) {
            if (end - pos === 3 && buf[pos + 2] !== CR) pos += 2;
            else break; // "\r\n" or "\r\n\r": a ping may be arriving in pieces
            continue;
          }
          if (buf[pos + 2] === CR && buf[pos + 3] === LF) {
            sink.onPing();
            pos += 4;
          } else {
            pos += 2;
          }
          continue;
        }
        const idx = buf.indexOf(CRLFCRLF, pos + (this.scanned > 3 ? this.scanned - 3 : 0));
        // Bytes of buf past `end` are stale; a first match at or beyond end means "not found yet".
        if (idx === -1 || idx + 4 > end) {
          if (end - pos > max) return this.fail('header-too-large');
          this.scanned = end - pos;
          break;
        }
        const headEnd = idx + 4;
        if (headEnd - pos > max) {
          // Complete but over the limit (it arrived in one large chunk): answer 513, then stop.
          sink.onMalformedFrame(slice(buf, pos, headEnd, isView), new SipError(513, 'Message Too Large'));
          return this.fail('header-too-large');
        }
        this.scanned = 0;
        const length = contentLength(buf, pos, idx);
        if (length === MISSING) {
          // RFC 3261 §18.3: Content-Length MUST be present on streams. Assume no body (keeps the stream in step), answer 400.
          sink.onMalformedFrame(slice(buf, pos, headEnd, isView), new SipError(400, 'Missing Content-Length'));
          pos = headEnd;
          continue;
        }
        if (length === MALFORMED) {
          sink.onMalformedFrame(slice(buf, pos, headEnd, isView), new SipError(400, 'Malformed Content-Length'));
          return this.fail('bad-content-length');
        }
        if (headEnd - pos + length > max) {
          // RFC 3261 §21.5.14: 513 Message Too Large. The body is never read, so the stream cannot continue.
          sink.onMalformedFrame(slice(buf, pos, headEnd, isView), new SipError(513, 'Message Too Large'));
          return this.fail('body-too-large');
        }
        this.expected = headEnd - pos + length;
      }
      if (end - pos < this.expected) break;
      const next = pos + this.expected;
      this.expected = 0;
      sink.onFrame(slice(buf, pos, next, isView));
      pos = next;
    }
    return pos;
  }

  private fail(failure: FramingFailure): number {
    this.failure = failure;
    this.pending = undefined;
    this.pendingLen = 0;
    return -1;
  }

  /** Makes the accumulation buffer hold at least `size` bytes, keeping its content. */
  private reserve(size: number): void {
    const old = this.pending;
    if (old !== undefined && old.length >= size) return;
    let cap = old === undefined ? 4096 : old.length * 2;
    while (cap < size) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    if (old !== undefined && this.pendingLen > 0) old.copy(next, 0, 0, this.pendingLen);
    this.pending = next;
  }
}

/** A chunk view is handed up as is; the accumulation buffer is reused, so frames from it are copied. */
function slice(buf: Buffer, start: number, end: number, isView: boolean): Buffer {
  if (isView) return buf.subarray(start, end);
  const out = Buffer.allocUnsafe(end - start);
  buf.copy(out, 0, start, end);
  return out;
}

/**
 * Content-Length (or compact `l`) of the header section buf[start, headIdx), headIdx being where CRLFCRLF begins.
 * Walks line starts with indexOf(LF) and compares names byte by byte (no regex, no string). Returns the length,
 * MISSING, or MALFORMED (not a number, or two different values).
 */
export function contentLength(buf: Buffer, start: number, headIdx: number): number {
  let result = MISSING;
  let lf = buf.indexOf(LF, start);
  // The LF at headIdx + 1 ends the last header line; the line after it is the empty one.
  while (lf !== -1 && lf <= headIdx) {
    const p = lf + 1;
    lf = buf.indexOf(LF, p);
    const v = valueStart(buf, p, headIdx);
    if (v < 0) continue;
    const n = parseLength(buf, v, headIdx);
    if (n === MALFORMED) return MALFORMED;
    if (result !== MISSING && result !== n) return MALFORMED;
    result = n;
  }
  return result;
}

/** Index after the colon when the line at p is Content-Length or `l`, else -1. */
function valueStart(buf: Buffer, p: number, limit: number): number {
  let i: number;
  if ((buf[p] | 0x20) === 0x6c && (buf[p + 1] === COLON || buf[p + 1] === SP || buf[p + 1] === HT)) {
    i = p + 1;
  } else {
    if (p + CONTENT_LENGTH.length > limit) return -1;
    for (let k = 0; k < CONTENT_LENGTH.length; k++) {
      const b = buf[p + k];
      if ((b >= 65 && b <= 90 ? b | 0x20 : b) !== CONTENT_LENGTH[k]) return -1;
    }
    i = p + CONTENT_LENGTH.length;
  }
  while (i < limit && (buf[i] === SP || buf[i] === HT)) i++;
  return buf[i] === COLON ? i + 1 : -1;
}

/** Decimal digits between optional whitespace, ending at CR; HUGE when absurdly long. */
function parseLength(buf: Buffer, i: number, limit: number): number {
  while (i < limit && (buf[i] === SP || buf[i] === HT)) i++;
  let n = 0;
  let digits = 0;
  for (; i < limit; i++) {
    const b = buf[i];
    if (b < 48 || b > 57) break;
    n = n * 10 + (b - 48);
    if (n > HUGE) n = HUGE;
    digits++;
  }
  while (i < limit && (buf[i] === SP || buf[i] === HT)) i++;
  // buf[limit] is the CR that starts CRLFCRLF, so every line ends in CR here.
  if (digits === 0 || buf[i] !== CR) return MALFORMED;
  return n;
}
