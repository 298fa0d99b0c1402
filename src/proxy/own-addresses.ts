// The edge's own addresses, as the proxy writes them into Via, Record-Route and Contact per transport, and the checks
// that read them back: a Route naming the edge, a loop (RFC 3261 §16.3 step 4). Which host a peer reaches on a wildcard
// listen address is transport/local-address.ts's; where a request goes is proxy.ts's.
import type { AddressInfo } from 'node:net';
import type { SipMessage } from '../sip/types.ts';
import { parseUri } from '../sip/uri.ts';
import type { Flow } from '../transport/flow.ts';
import { isWildcard, localAddresses, splitHostPort, uriHost } from '../transport/local-address.ts';

/** The edge's own address on one transport, with the header pieces that name it precomputed. */
interface Local {
  /** Host as written in URIs (IPv6 in brackets). */
  uriHost: string;
  port: number;
  /** "host:port" as the Via parser reports a sent-by (lower case, IPv6 without brackets). */
  sentBy: string;
  /** 'SIP/2.0/UDP host:port;rport;branch=' */
  viaPrefix: string;
  /** ';transport=udp;lr>' */
  rrSuffix: string;
  /** ';transport=udp>' */
  contactSuffix: string;
  /** For a SIPS dialog (RFC 3261 §16.6 step 4, §8.1.1.8) on a TLS or WSS flow: ';lr>' / ';transport=ws;lr>'. */
  sipsRrSuffix: string;
  /** For a SIPS Contact on a TLS or WSS flow: '>' / ';transport=ws>'. */
  sipsContactSuffix: string;
  /**
   * Bound to a wildcard without sip.advertisedHost: the host is chosen per peer (localAddresses) and this entry is
   * only the base; `byHost` keeps one Local per local host (a handful).
   */
  perPeer?: { kind: string; viaName: string; byHost: Map<string, Local> };
}

function makeLocal(kind: string, viaName: string, host: string, port: number): Local {
  const u = uriHost(host);
  // RFC 7118 §5.2: a URI names WebSocket as transport=ws, secure or not (WSS is sips: with transport=ws).
  const uriTransport = kind === 'wss' ? 'ws' : kind;
  return {
    uriHost: u,
    port,
    sentBy: host.toLowerCase() + ':' + port,
    viaPrefix: `SIP/2.0/${viaName} ${u}:${port};rport;branch=`,
    rrSuffix: `;transport=${uriTransport};lr>`,
    contactSuffix: `;transport=${uriTransport}>`,
    // RFC 5630 §3.1.3: with sips: the transport is TCP unless named (transport=tls is deprecated there).
    sipsRrSuffix: kind === 'wss' ? ';transport=ws;lr>' : ';lr>',
    sipsContactSuffix: kind === 'wss' ? ';transport=ws>' : '>',
  };
}

/** The bound listen addresses (plus sip.advertisedHost) as the proxy names the edge, and every sent-by it writes. */
export class OwnAddresses {
  private readonly locals = new Map<string, Local>();
  /** Every sent-by the edge writes, for loop detection (§16.3 step 4) and Routes that name the edge. */
  private readonly sentBys = new Set<string>();

  /** @param advertisedHost sip.advertisedHost: the host (and port) the edge names itself by; '' = listen addresses. */
  constructor(private readonly advertisedHost: string) {}

  /** Learns the bound listen addresses (after transport.listen). */
  learn(addrs: { udp?: AddressInfo; tcp?: AddressInfo; tls?: AddressInfo; ws?: AddressInfo; wss?: AddressInfo }): void {
    const adv = splitHostPort(this.advertisedHost);
    const add = (kind: string, a: AddressInfo | undefined, viaName: string): void => {
      if (a === undefined) return;
      // sip.advertisedHost's port is the UDP/TCP one (5060 behind a NAT's forward); TLS and WS keep their own.
      const port = adv.port > 0 && (kind === 'udp' || kind === 'tcp') ? adv.port : a.port;
      if (adv.host === '' && isWildcard(a.address)) {
        // Named per peer: a phone on the LAN gets the LAN address, one on this host 127.0.0.1 (see local-address.ts).
        const base = makeLocal(kind, viaName, '127.0.0.1', port);
        this.locals.set(kind, { ...base, perPeer: { kind, viaName, byHost: new Map() } });
        for (const own of localAddresses.all()) this.sentBys.add(own.toLowerCase() + ':' + port);
      } else {
        const l = makeLocal(kind, viaName, adv.host !== '' ? adv.host : a.address, port);
        this.locals.set(kind, l);
        this.sentBys.add(l.sentBy);
      }
      this.sentBys.add(a.address.toLowerCase() + ':' + a.port);
    };
    add('udp', addrs.udp, 'UDP');
    add('tcp', addrs.tcp, 'TCP');
    add('tls', addrs.tls, 'TLS');
    add('ws', addrs.ws, 'WS');
    add('wss', addrs.wss, 'WSS');
  }

  /** The edge's address on flow's transport, as the peer at its other end reaches it. */
  of(flow: Flow): Local {
    const l = this.locals.get(flow.transport) ?? this.locals.get('udp') ?? this.locals.values().next().value;
    if (l === undefined) throw new Error('proxy used before start()');
    const pp = l.perPeer;
    if (pp === undefined) return l;
    // A TCP/WS connection knows its own local address; a UDP flow has the listener's wildcard.
    const host = localAddresses.forFlow(flow);
    let named = pp.byHost.get(host);
    if (named === undefined) {
      named = makeLocal(pp.kind, pp.viaName, host, l.port);
      pp.byHost.set(host, named);
      this.sentBys.add(named.sentBy);
    }
    return named;
  }

  /** True when a URI's host:port is one the edge listens on or names itself by (a preloaded outbound-proxy Route). */
  isOwnUri(uri: string): boolean {
    try {
      const u = parseUri(uri, 'Route');
      return this.sentBys.has(u.host + ':' + (u.port || 5060));
    } catch {
      return false;
    }
  }

  /** §16.3 step 4: a Via of ours below the top one means the request has been here before. */
  isLoop(req: SipMessage): boolean {
    const vias = req.vias();
    for (let i = 1; i < vias.length; i++) if (this.sentBys.has(vias[i]!.host + ':' + vias[i]!.port)) return true;
    return false;
  }
}
