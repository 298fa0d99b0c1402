// Test actor for proxy stories: a SIP endpoint (desk phone, softphone or PBX) on a real UDP, WebSocket or TLS socket
// that both sends and receives requests and responses. Independent of src/: text in, text out, string parsing only.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';
import { digestAuthorization } from '../helpers/sip-client.ts';

/** One message as the peer received it. */
export interface Msg {
  raw: string;
  isRequest: boolean;
  method: string;
  ruri: string;
  status: number;
  /** All values of a header (one entry per line; compact names expanded). */
  headers(name: string): string[];
  header(name: string): string | undefined;
  body: string;
  /** Where it came from (UDP) — replies go back there. */
  from: { address: string; port: number };
}

const COMPACT: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type' };

export function parseMsg(raw: string, from: { address: string; port: number }): Msg {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, end < 0 ? raw.length : end);
  const lines = head.split('\r\n');
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

export class SipPeer {
  readonly received: Msg[] = [];
  private waiters: Array<{ pred: (m: Msg) => boolean; resolve: (m: Msg) => void }> = [];
  private udp?: dgram.Socket;
  private ws?: WebSocket;
  /** TLS: the phone's connection to the edge, or the edge's latest connection to a TLS PBX. */
  private stream?: tls.TLSSocket;
  private server?: tls.Server;
  private buf = '';
  /** When set, requests matching it get this automatic answer (e.g. OPTIONS probes -> 200). */
  autoAnswer: ((m: Msg) => number | undefined) | undefined = (m) => (m.method === 'OPTIONS' ? 200 : undefined);
  /** A dead host: everything is ignored (still counted in `seen`). */
  silent = false;
  /** Requests received by method, silent or not. */
  readonly seen = new Map<string, number>();
  host = '127.0.0.1';
  port = 0;

  private constructor(
    readonly transport: 'udp' | 'ws' | 'tls',
    /** Where send() goes by default: the edge (UDP port; set later for a PBX started before the edge). */
    public edgePort: number,
  ) {}

  static async udp(edgePort: number, address = '127.0.0.1'): Promise<SipPeer> {
    const p = new SipPeer('udp', edgePort);
    const s = dgram.createSocket('udp4');
    p.udp = s;
    s.on('message', (m, r) => p.onData(m.toString('latin1'), { address: r.address, port: r.port }));
    await new Promise<void>((r) => s.bind(0, address, () => r()));
    p.host = address;
    p.port = s.address().port;
    return p;
  }

  static async ws(edgeWsPort: number): Promise<SipPeer> {
    const p = new SipPeer('ws', edgeWsPort);
    const ws = new WebSocket(`ws://127.0.0.1:${edgeWsPort}`, ['sip']);
    p.ws = ws;
    ws.on('message', (d) => p.onData(Buffer.from(d as Buffer).toString('latin1'), { address: '127.0.0.1', port: edgeWsPort }));
    await new Promise<void>((r, j) => {
      ws.once('open', () => r());
      ws.once('error', j);
    });
    p.host = `${rnd(4)}.invalid`;
    p.port = 0;
    return p;
  }

  /** A phone on a TLS connection to the edge's sip.tls port, trusting `ca` (the edge's certificate). */
  static async tls(edgeTlsPort: number, ca: string): Promise<SipPeer> {
    const p = new SipPeer('tls', edgeTlsPort);
    const s = tls.connect({ port: edgeTlsPort, host: '127.0.0.1', ca });
    p.attach(s);
    await new Promise<void>((r, j) => s.once('secureConnect', () => r()).once('error', j));
    p.host = '127.0.0.1';
    p.port = s.localPort!;
    return p;
  }

  /** A PBX with a TLS listener on address (certificate and key in PEM); the edge connects to it. */
  static async tlsServer(address: string, cert: string, key: string): Promise<SipPeer> {
    const p = new SipPeer('tls', 0);
    const server = tls.createServer({ cert, key }, (s) => p.attach(s));
    p.server = server;
    await new Promise<void>((r) => server.listen(0, address, () => r()));
    p.host = address;
    p.port = (server.address() as AddressInfo).port;
    return p;
  }

  private attach(s: tls.TLSSocket): void {
    this.stream = s;
    s.setEncoding('latin1');
    s.on('error', () => undefined);
    s.on('data', (d: string) => {
      this.buf += d;
      for (;;) {
        while (this.buf.startsWith('\r\n')) this.buf = this.buf.slice(2);
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/\r\n(?:content-length|l)\s*:\s*(\d+)/i.exec(this.buf.slice(0, end + 2))?.[1] ?? 0);
        if (this.buf.length < end + 4 + len) return;
        this.onData(this.buf.slice(0, end + 4 + len), { address: s.remoteAddress ?? '', port: s.remotePort ?? 0 });
        this.buf = this.buf.slice(end + 4 + len);
      }
    });
  }

  /** Via sent-by and transport token for requests this peer originates. */
  get via(): string {
    return this.transport === 'ws' ? `SIP/2.0/WS ${this.host}` : `SIP/2.0/${this.transport.toUpperCase()} ${this.host}:${this.port}`;
  }

  get contact(): string {
    if (this.transport === 'ws') return `sip:${rnd(3)}@${this.host};transport=ws`;
    return this.transport === 'tls' ? `sip:peer@${this.host}:${this.port};transport=tls` : `sip:peer@${this.host}:${this.port}`;
  }

  private onData(text: string, from: { address: string; port: number }): void {
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

  send(text: string, to?: { address: string; port: number }): void {
    const b = Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'latin1');
    if (this.udp) this.udp.send(b, to?.port ?? this.edgePort, to?.address ?? '127.0.0.1');
    else if (this.stream) this.stream.write(b);
    else this.ws!.send(b.toString('latin1'));
  }

  /** The next message matching pred (also one already received and not yet taken, when `past`). */
  waitFor(pred: (m: Msg) => boolean, timeoutMs = 3000, past = true): Promise<Msg> {
    if (past) {
      const i = this.received.findIndex(pred);
      if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0]!);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no matching SIP message within ${timeoutMs} ms; got:\n${this.received.map((m) => m.raw.split('\r\n')[0]).join('\n')}`));
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

  request(method: string, callId?: string): (m: Msg) => boolean {
    return (m) => m.isRequest && m.method === method && (callId === undefined || m.header('call-id') === callId);
  }

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
    if (this.ws) this.ws.terminate();
    this.stream?.destroy();
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

/** Registers `peer` as ext@domain through the 401 challenge; resolves with the final status. */
export async function register(peer: SipPeer, ext: string, domain: string, password: string): Promise<number> {
  const callId = `${rnd()}@reg`;
  const base = { method: 'REGISTER', ruri: `sip:${domain}`, from: `sip:${ext}@${domain}`, to: `sip:${ext}@${domain}`, callId, headers: ['Expires: 600'] };
  const first = buildRequest(peer, { ...base, cseq: 1 });
  peer.send(first.text);
  const challenge = await peer.waitFor(peer.response(401, 'REGISTER', callId));
  const auth = digestAuthorization(challenge.headers('www-authenticate').at(-1)!, { username: ext, password, method: 'REGISTER', uri: `sip:${domain}` });
  const second = buildRequest(peer, { ...base, cseq: 2, headers: [...base.headers, `Authorization: ${auth}`] });
  peer.send(second.text);
  const final = await peer.waitFor((m) => !m.isRequest && m.status >= 200 && m.header('call-id') === callId && m.header('cseq') === '2 REGISTER');
  return final.status;
}

/** Proxy-Authorization value answering a 407. */
export function proxyAuthorization(res: Msg, o: { username: string; password: string; method: string; uri: string }): string {
  return digestAuthorization(res.headers('proxy-authenticate').at(-1)!, o);
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
