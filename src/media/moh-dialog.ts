// A hold-music dialog's state and the SIP text it needs besides responses: dialog/pending keys, the BYE the edge
// sends when it ends a call, Session-Expires parsing. The UAS logic that drives them is moh-service.ts's.
import { newBranch } from '../sip/random.ts';
import type { SipMessage } from '../sip/types.ts';
import type { MohClass } from '../store/types.ts';
import type { Flow } from '../transport/flow.ts';
import { localAddresses, splitHostPort, uriHost } from '../transport/local-address.ts';
import type { RtpSocket } from './rtp-socket.ts';
import type { RtpStream } from './rtp-scheduler.ts';
import type { Direction, OfferInfo } from './sdp.ts';

/** One call on hold music: the dialog state (RFC 3261 §12) plus its RTP socket and stream. */
export interface Dialog {
  key: string;
  callId: string;
  localTag: string;
  remoteTag: string;
  /** Our side (the INVITE's To URI) and the peer's From header value as received. */
  localUri: string;
  remoteFrom: string;
  remoteTarget: string;
  routeSet: string[];
  flow: Flow;
  localCseq: number;
  remoteCseq: number;
  tenant: string;
  cls: MohClass;
  socket: RtpSocket;
  stream: RtpStream;
  sessionId: string;
  sdpVersion: number;
  offerDirection: Direction;
  /** Late offer: our offer went in the 200, the answer comes in the ACK. */
  awaitingAnswer: boolean;
  /** UDP 2xx retransmission (RFC 3261 §13.3.1.4) until the ACK. */
  ok: { bytes: Buffer; nextAt: number; interval: number; giveUpAt: number } | undefined;
  sessionExpiresMs: number;
  refreshBy: number;
  startedAt: number;
  errorSince: number;
  /** The formats of the last offer/answer we accepted (our SDP lists them). */
  negotiated: OfferInfo | undefined;
  /** A browser's call: its SDP goes through rtpengine (moh-relay.ts), our RTP goes to rtpengine. */
  relayed: boolean;
  ended?: boolean;
}

/** A BYE inside the dialog (RFC 3261 §12.2.1.1, §15.1.1), sent once on the flow the INVITE came on. */
export function byeRequest(d: Dialog, userAgent: string, advertisedHost = ''): string {
  const f = d.flow;
  const via = `SIP/2.0/${f.transport.toUpperCase()} ${hostPort(f, advertisedHost)};branch=${newBranch()};rport`;
  const routes = d.routeSet.map((r) => `Route: ${r}\r\n`).join('');
  return (
    `BYE ${d.remoteTarget} SIP/2.0\r\n` +
    `Via: ${via}\r\n` +
    'Max-Forwards: 70\r\n' +
    routes +
    `From: <${d.localUri}>;tag=${d.localTag}\r\n` +
    `To: ${d.remoteFrom}\r\n` +
    `Call-ID: ${d.callId}\r\n` +
    `CSeq: ${++d.localCseq} BYE\r\n` +
    `User-Agent: ${userAgent}\r\n` +
    'Content-Length: 0\r\n\r\n'
  );
}

/** Key of a dialog in the service's map: Call-ID, our tag, the peer's tag. */
export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\n${localTag}\n${remoteTag}`;
}

/** CANCEL matches its INVITE by Call-ID, From tag and top Via branch (§9.2). */
export function pendingKey(req: SipMessage): string {
  return `${req.callId}\n${req.from.tag ?? ''}\n${req.topVia.branch}`;
}

/**
 * How we name ourselves on this flow in Via and Contact, host:port: sip.advertisedHost when set (its port, else the
 * flow's; a WebSocket flow keeps its own port), else the flow's local address, which for a UDP listener on a wildcard
 * is the address the peer reaches this host on (local-address.ts), never 0.0.0.0.
 */
export function hostPort(f: Flow, advertisedHost = ''): string {
  const adv = splitHostPort(advertisedHost);
  const host = adv.host !== '' ? adv.host : localAddresses.forFlow(f);
  const port = adv.port > 0 && f.transport !== 'ws' && f.transport !== 'wss' ? adv.port : f.localPort;
  return `${uriHost(host)}:${port}`;
}

/** Session-Expires delta-seconds (RFC 4028 §4), undefined when absent or malformed. */
export function sessionExpires(req: SipMessage): number | undefined {
  const v = req.header('session-expires') ?? req.header('x');
  if (v === undefined) return undefined;
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
