// Test actor: a SIP endpoint (desk phone, softphone or PBX) on a real UDP, TCP, TLS, WS or WSS socket to the edge. It
// sends requests and responses as text and records what arrives, parsed with string operations only (independent of
// src/). Message builders for dialogs live here too; REGISTER and digest answers are phone.ts's.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';

export type PeerTransport = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** One message as the peer received it. */
export interface Msg {
  raw: string;
  isRequest: boolean;
  method: string;
  ruri: string;
  /** Status code of a response (0 for a request). */
  status: number;
  reason: string;
  /** All values of a header (one entry per line; compact names expanded). */
  headers(name: string): string[];
  header(name: string): string | undefined;
  body: string;
  /** Where it came from (UDP) — replies go back there; the edge's address on TCP and WS. */
  from: { address: string; port: number };
}

const COMPACT: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type' };

export function parseMsg(raw: string, from: { address: string; port: number } = { address: '', port: 0 }): Msg {
  const end = raw.indexOf('\r\n\r\n');
  const lines = raw.slice(0, end < 0 ? raw.length : end).split('\r\n');
  const start = lines[0]!;
  const map = new Map<string, string[]>();
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    let n = l.slice(0, c).trim().toLowerCase();
    n = COMPACT[n] ?? n;
    const arr = map.get(n) ?? [];
    arr.push(l.slice(c + 1).trim());
    map.set(n, arr);
  }
  const isRequest = !start.startsWith('SIP/2.0 ');
  const parts = start.split(' ');
  return {
    raw,
    isRequest,
    method: isRequest ? parts[0]! : '',
    ruri: isRequest ? parts[1]! : '',
    status: isRequest ? 0 : Number(parts[1]),
    reason: isRequest ? '' : parts.slice(2).join(' '),
    headers: (n) => map.get(n.toLowerCase()) ?? [],
    header: (n) => map.get(n.toLowerCase())?.[0],
    body: end < 0 ? '' : raw.slice(end + 4),
    from,
  };
}

export const rnd = (n = 6): string => randomBytes(n).toString('hex');
/** The tag of a From/To value. */
export const tagOf = (v: string | undefined): string | undefined => /;tag=([^;>\s]+)/.exec(v ?? '')?.[1];
/** The URI inside <> of a name-addr (or the value itself). */
export const uriOf = (v: string): string => /<([^>]*)>/.exec(v)?.[1] ?? v.split(';')[0]!;

export interface PeerOptions {
  transport: PeerTransport;
  /** The edge's port for this transport (0 for a PBX started before the edge: set edgePort later). */
  port: number;
  /** The edge's host; default 127.0.0.1. */
  host?: string;
  /** Local address to send from (UDP/TCP), e.g. 127.0.0.2 for a second source. */
  localAddress?: string;
  /** WebSocket subprotocols to offer; default ['sip']. */
  protocols?: string[];
  /** TLS/WSS: the CA (PEM) the edge's certificate must chain to, e.g. its self-signed certificate. */
  ca?: string;
}

/** A datagram a UDP peer sends itself to know that everything sent to it before has been read (settled()). */
const MARK = '\0sipedge-test-settled:';

export class SipPeer {
  /** Messages received and not yet taken by waitFor() or request(). */
  readonly received: Msg[] = [];
  /** Requests received by method, silent or not, taken or not. */
  readonly seen = new Map<string, number>();
  /** When set, requests matching it get this automatic answer (e.g. OPTIONS probes -> 200). */
  autoAnswer: ((m: Msg) => number | undefined) | undefined = (m) => (m.method === 'OPTIONS' ? 200 : undefined);
  /** A dead host: everything is ignored (still counted in `seen`). */
  silent = false;
  /** Where send() goes by default: the edge. */
  edgePort: number;
  /** This peer's own address as it names it in Via and Contact (a WebSocket peer: a random .invalid host, port 0). */
  host = '127.0.0.1';
  port = 0;
  closed = false;
  private waiters: Array<{ pred: (m: Msg) => boolean; resolve: (m: Msg) => void }> = [];
  private marks = new Map<string, () => void>();
  private udp?: dgram.Socket;
  /** TCP/TLS: the connection to the edge, or (tlsServer) the edge's latest connection to this PBX. */
  private tcp?: net.Socket;
  private server?: tls.Server;
  private ws?: WebSocket;
  private buf = '';

  private constructor(private readonly o: PeerOptions) {
    this.edgePort = o.port;
  }

  static async open(o: PeerOptions): Promise<SipPeer> {
    const p = new SipPeer(o);
    await p.connect();
    return p;
  }

  get transport(): PeerTransport {
    return this.o.transport;
  }

  /** A PBX with a TLS listener on `address` (certificate and key in PEM); the edge connects to it. */
  static async tlsServer(address: string, cert: string, key: string): Promise<SipPeer> {
    const p = new SipPeer({ transport: 'tls', port: 0 });
    const server = tls.createServer({ cert, key }, (s) => p.attachStream(s));
    p.server = server;
    await new Promise<void>((r) => server.listen(0, address, () => r()));
    p.host = address;
    p.port = (server.address() as AddressInfo).port;
    return p;
  }

  private get isWebSocket(): boolean {
    return this.transport === 'ws' || this.transport === 'wss';
  }

  /** Via sent-by with its transport token, for requests this peer originates. */
  get via(): string {
    return this.isWebSocket ? `SIP/2.0/${this.transport.toUpperCase()} ${this.host}` : `SIP/2.0/${this.transport.toUpperCase()} ${this.host}:${this.port}`;
  }

  /** A Contact URI reaching this peer. */
  get contact(): string {
    // RFC 7118 §5: a WSS contact is still transport=ws.
    if (this.isWebSocket) return `sip:${rnd(3)}@${this.host};transport=ws`;
    return this.transport === 'tls' ? `sip:peer@${this.host}:${this.port};transport=tls` : `sip:peer@${this.host}:${this.port}`;
  }

  private async connect(): Promise<void> {
    const host = this.o.host ?? '127.0.0.1';
    const edge = { address: host, port: this.o.port };
    if (this.o.transport === 'udp') {
      const s = dgram.createSocket('udp4');
      this.udp = s;
      s.on('message', (m, r) => this.onData(m.toString('latin1'), { address: r.address, port: r.port }));
      await new Promise<void>((r) => s.bind(0, this.o.localAddress ?? '127.0.0.1', () => r()));
      this.host = this.o.localAddress ?? '127.0.0.1';
      this.port = s.address().port;
    } else if (this.o.transport === 'tcp' || this.o.transport === 'tls') {
      const plain = net.connect({ port: this.o.port, host, localAddress: this.o.localAddress });
      const s = this.o.transport === 'tcp' ? plain : tls.connect({ socket: plain, host, ca: this.o.ca });
      this.attachStream(s, edge);
      await new Promise<void>((r, j) => {
        s.once(this.o.transport === 'tls' ? 'secureConnect' : 'connect', () => r());
        s.once('error', j);
      });
      this.host = s.localAddress!;
      this.port = s.localPort!;
    } else {
      const ws = new WebSocket(`${this.o.transport}://${host}:${this.o.port}`, this.o.protocols ?? ['sip'], { ca: this.o.ca });
      this.ws = ws;
      ws.on('message', (d) => this.onData(Buffer.from(d as Buffer).toString('latin1'), edge));
      ws.on('close', () => (this.closed = true));
      await new Promise<void>((r, j) => {
        ws.once('open', () => r());
        ws.once('error', j);
      });
      this.host = `${rnd(4)}.invalid`;
      this.port = 0;
    }
  }

  private attachStream(s: net.Socket, from?: { address: string; port: number }): void {
    this.tcp = s;
    this.buf = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => this.onStream(d, from ?? { address: s.remoteAddress ?? '', port: s.remotePort ?? 0 }));
    s.on('close', () => (this.closed = true));
    // A server-side connection's errors end it; the story sees the close.
    if (from === undefined) s.on('error', () => undefined);
  }

  private onStream(d: string, from: { address: string; port: number }): void {
    this.buf += d;
    for (;;) {
      while (this.buf.startsWith('\r\n')) this.buf = this.buf.slice(2);
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /\r\n(?:content-length|l)\s*:\s*(\d+)/i.exec(this.buf.slice(0, end + 2));
      const len = m ? Number(m[1]) : 0;
      if (this.buf.length < end + 4 + len) return;
      this.onData(this.buf.slice(0, end + 4 + len), from);
      this.buf = this.buf.slice(end + 4 + len);
    }
  }

  private onData(text: string, from: { address: string; port: number }): void {
    if (text.startsWith(MARK)) {
      this.marks.get(text)?.();
      return;
    }
    if (text.trim() === '') return;
    const m = parseMsg(text, from);
    if (m.isRequest) this.seen.set(m.method, (this.seen.get(m.method) ?? 0) + 1);
    if (this.silent) return;
    if (m.isRequest && this.autoAnswer) {
      const status = this.autoAnswer(m);
      if (status !== undefined) {
        this.reply(m, status);
        return;
      }
    }
    this.received.push(m);
    const i = this.waiters.findIndex((w) => w.pred(m));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
  }

  /** Sends raw text (LF line ends become CRLF): to the edge, or over UDP to `to`. */
  send(text: string | Buffer, to?: { address: string; port: number }): void {
    const b = typeof text === 'string' ? Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'latin1') : text;
    if (this.udp) this.udp.send(b, to?.port ?? this.edgePort, to?.address ?? this.o.host ?? '127.0.0.1');
    else if (this.tcp) this.tcp.write(b);
    else this.ws!.send(b.toString('latin1'));
  }

  /**
   * The next message matching pred, taken out of `received`: one that already arrived and was not taken (`past`), or
   * the first to arrive within timeoutMs.
   */
  waitFor(pred: (m: Msg) => boolean, timeoutMs = 3000, past = true): Promise<Msg> {
    if (past) {
      const i = this.received.findIndex(pred);
      if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0]!);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no matching SIP response (or request) within ${timeoutMs} ms; got:\n${this.received.map((m) => m.raw.split('\r\n')[0]).join('\n')}`));
      }, timeoutMs);
      const done = (m: Msg): void => {
        clearTimeout(t);
        const i = this.received.indexOf(m);
        if (i >= 0) this.received.splice(i, 1);
        resolve(m);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  /** Sends a request and resolves with its final response (same Call-ID and CSeq number, arriving after the send). */
  sendRequest(text: string, callId: string, cseq: number, timeoutMs = 3000): Promise<Msg> {
    const p = this.waitFor((m) => !m.isRequest && m.status >= 200 && m.header('call-id') === callId && m.header('cseq')?.startsWith(`${cseq} `) === true, timeoutMs, false);
    this.send(text);
    return p;
  }

  /**
   * UDP: resolves once every datagram sent to this peer before the call (by anyone in this process) has been read,
   * and the edge has handled what this peer sent it before. One loop turn first (the edge sends a turn's datagrams in
   * setImmediate); then the peer sends itself a marker, which queues behind them; then one loop turn more, so that
   * other sockets made readable by the same sends (the edge's) have had their turn too.
   */
  async settled(): Promise<void> {
    if (this.udp === undefined) throw new Error('settled() is for UDP peers');
    await new Promise((r) => setImmediate(r));
    const mark = `${MARK}${rnd()}`;
    await new Promise<void>((resolve) => {
      this.marks.set(mark, resolve);
      this.udp!.send(mark, this.port, this.host);
    });
    this.marks.delete(mark);
    await new Promise((r) => setImmediate(r));
  }

  /** Matches a request by method (and Call-ID). */
  request(method: string, callId?: string): (m: Msg) => boolean {
    return (m) => m.isRequest && m.method === method && (callId === undefined || m.header('call-id') === callId);
  }

  /** Matches a response by status (and CSeq method, Call-ID). */
  response(status: number, method?: string, callId?: string): (m: Msg) => boolean {
    return (m) =>
      !m.isRequest && m.status === status && (method === undefined || m.header('cseq')!.endsWith(' ' + method)) &&
      (callId === undefined || m.header('call-id') === callId);
  }

  /** Answers a request (UDP: back to its source), copying Via/From/To/Call-ID/CSeq, and Record-Route for dialogs. */
  reply(req: Msg, status: number, opts: { toTag?: string; headers?: string[]; body?: string; reason?: string } = {}): string {
    const to = req.header('to')!;
    const toTag = tagOf(to) ?? opts.toTag ?? (status > 100 ? rnd(4) : undefined);
    const lines = [`SIP/2.0 ${status} ${opts.reason ?? 'Reason'}`];
    for (const v of req.headers('via')) lines.push(`Via: ${v}`);
    lines.push(`From: ${req.header('from')}`, `To: ${to}${tagOf(to) === undefined && toTag ? `;tag=${toTag}` : ''}`);
    lines.push(`Call-ID: ${req.header('call-id')}`, `CSeq: ${req.header('cseq')}`);
    if (status > 100 && status < 300) for (const rr of req.headers('record-route')) lines.push(`Record-Route: ${rr}`);
    if (status >= 200 && status < 300 && req.method === 'INVITE') lines.push(`Contact: <${this.contact}>`);
    lines.push(...(opts.headers ?? []));
    const body = opts.body ?? '';
    if (body !== '') lines.push('Content-Type: application/sdp');
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
    this.send(lines.join('\r\n'), req.from);
    return toTag ?? '';
  }

  async close(): Promise<void> {
    if (this.udp) await new Promise<void>((r) => this.udp!.close(() => r()));
    this.tcp?.destroy();
    this.ws?.terminate();
    this.server?.close();
  }
}

/** A dialog-creating INVITE (or other request) from `peer`; returns the text and its ids. */
export function buildRequest(
  peer: SipPeer,
  o: { method: string; ruri: string; from: string; to: string; callId?: string; cseq?: number; fromTag?: string; branch?: string; headers?: string[]; body?: string; toTag?: string },
): { text: string; callId: string; fromTag: string; branch: string } {
  const callId = o.callId ?? `${rnd()}@test`;
  const fromTag = o.fromTag ?? rnd(4);
  const branch = o.branch ?? `z9hG4bK${rnd()}`;
  const body = o.body ?? '';
  const lines = [
    `${o.method} ${o.ruri} SIP/2.0`,
    `Via: ${peer.via};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <${o.from}>;tag=${fromTag}`,
    `To: <${o.to}>${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: ${o.cseq ?? 1} ${o.method}`,
    `Contact: <${peer.contact}>`,
    ...(o.headers ?? []),
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return { text: lines.join('\r\n'), callId, fromTag, branch };
}

/** The ACK for a 2xx: new branch, the route set reversed from the 2xx's Record-Route, the 2xx's To. */
export function ackFor(peer: SipPeer, invite: { callId: string; fromTag: string }, ok: Msg, o: { from: string; cseq?: number }): string {
  const routes = [...ok.headers('record-route')].reverse();
  const target = uriOf(ok.header('contact')!);
  return [
    `ACK ${target} SIP/2.0`,
    `Via: ${peer.via};branch=z9hG4bK${rnd()};rport`,
    'Max-Forwards: 70',
    ...routes.map((r) => `Route: ${r}`),
    `From: <${o.from}>;tag=${invite.fromTag}`,
    `To: ${ok.header('to')}`,
    `Call-ID: ${invite.callId}`,
    `CSeq: ${o.cseq ?? 1} ACK`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** An in-dialog request (BYE, INFO, re-INVITE) along a route set, from the side that holds `routes` (in order). */
export function inDialog(
  peer: SipPeer,
  o: { method: string; target: string; routes: string[]; from: string; fromTag: string; to: string; toTag: string; callId: string; cseq: number; body?: string },
): string {
  const body = o.body ?? '';
  return [
    `${o.method} ${o.target} SIP/2.0`,
    `Via: ${peer.via};branch=z9hG4bK${rnd()};rport`,
    'Max-Forwards: 70',
    ...o.routes.map((r) => `Route: ${r}`),
    `From: <${o.from}>;tag=${o.fromTag}`,
    `To: <${o.to}>;tag=${o.toTag}`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq} ${o.method}`,
    `Contact: <${peer.contact}>`,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}
