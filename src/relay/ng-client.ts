// One rtpengine's NG control channel (rtpengine docs/ng_protocol.md): `<cookie> <bencoded dict>` datagrams over UDP,
// answered with the same cookie. Lost datagrams are retransmitted with the same cookie (rtpengine answers a duplicate
// from its cache); a command gets an outcome, never an exception. Which rtpengine to ask is rtpengine-set.ts's.
//
// Own client rather than npm `rtpengine-client` 0.4.12: it does not load (lib/BaseClient.js requires `debug`, which it
// lists only as a devDependency), never retransmits over UDP, and emits an 'error' event for a reply that arrives after
// its timeout, which without a listener ends the process; it also pulls ws@7 and bencode@2 for transports we do not use.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Clock } from '../clock.ts';
import { BencodeError, decodeDict, encodeMerged, type BDictWithBytes, type BencodableDict } from './bencode.ts';

/** A reply dictionary: its `sdp` as the bytes it came in (a view of the datagram, never text), the rest decoded. */
export type NgDict = BDictWithBytes;

/** A command dictionary, or a part of one (constant flags): an SDP may be given as the bytes it came in. */
export type NgCommandDict = BencodableDict;

/** The reply key whose string is kept as bytes: the SDP goes back into a SIP message as it came. */
const SDP_BYTES: ReadonlySet<string> = new Set(['sdp']);

/** The reply keys the client itself reads (whether it is ok, and why not). */
const OUTCOME_KEYS = ['result', 'error-reason'];

/** The reply keys to decode when only `keys` are read (plus the outcome's own): for command's `keep`. */
export function replyKeys(...keys: string[]): ReadonlySet<string> {
  return new Set([...OUTCOME_KEYS, ...keys]);
}

/** Why a command got no usable reply (metric label `reason`, closed set). */
export type NgFailure = 'timeout' | 'refused' | 'error' | 'bad-reply' | 'closed';

export type NgOutcome = { ok: true; reply: NgDict } | { ok: false; reason: NgFailure; detail: string };

export interface NgClientOptions {
  /** An address rtpengine's --listen-ng listens on (resolved: an IP literal). */
  host: string;
  port: number;
  /** How long a command waits for its reply, retransmissions included; ms. */
  timeoutMs: number;
  /** Retransmit an unanswered command this often; ms (rtpengine answers a repeated cookie from its cache). */
  retransmitMs: number;
  clock: Clock;
}

interface Pending {
  readonly bytes: Buffer;
  readonly keep: ReadonlySet<string> | undefined;
  readonly deadline: number;
  nextSendAt: number;
  resolve(o: NgOutcome): void;
}

export class NgClient {
  private readonly socket: dgram.Socket;
  private readonly pending = new Map<string, Pending>();
  /** Random per client, so that a restarted edge never repeats a cookie rtpengine still has a cached reply for. */
  private readonly prefix = randomBytes(6).toString('base64url') + '.';
  private seq = 0;
  /**
   * Armed for the earliest retransmission or deadline of the pending commands. Left armed when the last reply comes:
   * it then fires once with nothing to do, at most every retransmitMs, instead of a timer set and cleared per command.
   */
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private connected: Promise<void> | undefined;
  private isConnected = false;
  private closed = false;

  constructor(private readonly o: NgClientOptions) {
    this.socket = dgram.createSocket(isIPv6(o.host) ? 'udp6' : 'udp4');
    this.socket.on('message', (m) => this.onMessage(m));
    // A connected UDP socket reports ICMP port unreachable as ECONNREFUSED: nobody listens there (rtpengine is gone).
    this.socket.on('error', (e: NodeJS.ErrnoException) => this.failAll(e.code === 'ECONNREFUSED' ? 'refused' : 'error', e.message));
    this.socket.unref();
  }

  /**
   * Sends one command and resolves with its reply or why there is none. Never rejects. The command is one dictionary
   * with `command`, or the parts it is made of (see encodeMerged), encoded before this returns its promise: the caller
   * may reuse an SDP buffer it gave. With `keep` (see replyKeys), only those keys of the reply are decoded.
   */
  command(cmd: NgCommandDict | readonly NgCommandDict[], keep?: ReadonlySet<string>): Promise<NgOutcome> {
    if (this.closed) return Promise.resolve(closedOutcome());
    const cookie = this.prefix + (this.seq++).toString(36);
    const bytes = encodeMerged(cookie + ' ', Array.isArray(cmd) ? cmd : [cmd as NgCommandDict]);
    if (this.isConnected) return this.dispatch(cookie, bytes, keep);
    this.connected ??= new Promise<void>((resolve) =>
      this.socket.connect(this.o.port, this.o.host, () => {
        this.isConnected = true;
        resolve();
      }),
    );
    // Closed while connecting (the edge stopping as a call ends).
    return this.connected.then(() => (this.closed ? closedOutcome() : this.dispatch(cookie, bytes, keep)));
  }

  /** Sends a command on the connected socket; its reply, a timeout or close() settles it. */
  private dispatch(cookie: string, bytes: Buffer, keep: ReadonlySet<string> | undefined): Promise<NgOutcome> {
    const now = this.o.clock.now();
    return new Promise<NgOutcome>((resolve) => {
      const p = { bytes, keep, deadline: now + this.o.timeoutMs, nextSendAt: now + this.o.retransmitMs, resolve };
      this.pending.set(cookie, p);
      this.send(bytes);
      this.wakeAt(Math.min(p.nextSendAt, p.deadline));
    });
  }

  /** Commands waiting for a reply. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Fails what is pending with 'closed' and closes the socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll('closed', 'the NG client is closed');
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      this.socket.close();
    } catch {
      // never bound
    }
  }

  private send(bytes: Buffer): void {
    try {
      this.socket.send(bytes, (err) => {
        if (err !== null && err !== undefined) this.failAll('error', err.message);
      });
    } catch (e) {
      // The socket was closed under a pending command (a retransmission after close()).
      this.failAll('closed', (e as Error).message);
    }
  }

  private onMessage(m: Buffer): void {
    const space = m.indexOf(0x20);
    if (space <= 0) return;
    const cookie = m.toString('latin1', 0, space);
    const p = this.pending.get(cookie);
    if (p === undefined) return; // a late or duplicate reply
    this.settle(cookie, p, replyOutcome(m, space + 1, p.keep));
  }

  /** Arms the timer for `at` unless it already fires by then. */
  private wakeAt(at: number): void {
    if (this.timer !== undefined) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.sweep();
    }, Math.max(0, at - this.o.clock.now()));
    this.timer.unref();
  }

  /** Times out and retransmits what is due, then arms the timer for what is due next. */
  private sweep(): void {
    const now = this.o.clock.now();
    let next = Infinity;
    for (const [cookie, p] of this.pending) {
      if (now >= p.deadline) {
        this.settle(cookie, p, { ok: false, reason: 'timeout', detail: `no reply within ${this.o.timeoutMs} ms` });
        continue;
      }
      if (now >= p.nextSendAt) {
        p.nextSendAt = now + this.o.retransmitMs;
        this.send(p.bytes);
      }
      next = Math.min(next, p.nextSendAt, p.deadline);
    }
    if (next < Infinity && !this.closed) this.wakeAt(next);
  }

  private settle(cookie: string, p: Pending, o: NgOutcome): void {
    this.pending.delete(cookie);
    p.resolve(o);
  }

  private failAll(reason: NgFailure, detail: string): void {
    for (const [cookie, p] of this.pending) this.settle(cookie, p, { ok: false, reason, detail });
  }
}

function closedOutcome(): NgOutcome {
  return { ok: false, reason: 'closed', detail: 'the NG client is closed' };
}

/** The outcome a reply datagram carries: its dictionary when `result` is ok or pong, else rtpengine's error reason. */
function replyOutcome(m: Buffer, from: number, keep: ReadonlySet<string> | undefined): NgOutcome {
  let v: NgDict;
  try {
    v = decodeDict(m, from, m.length, keep, SDP_BYTES);
  } catch (e) {
    return { ok: false, reason: 'bad-reply', detail: e instanceof BencodeError ? e.message : String(e) };
  }
  const result = v.result;
  if (result === 'ok' || result === 'pong') return { ok: true, reply: v };
  const why = v['error-reason'];
  return { ok: false, reason: 'error', detail: typeof why === 'string' ? why : `result ${String(result)}` };
}
