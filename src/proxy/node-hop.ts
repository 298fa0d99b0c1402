// The internal hop between nodes of one deployment (README "Many nodes"): a request one node relays to another travels
// over SIP/TCP to the other's internal address and carries Sipedge-Hop, an HMAC that only nodes can compute. Which
// requests are relayed and where is proxy.ts's; which nodes are alive is registrar/node-registry.ts's.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Logger } from '../observability/logger.ts';
import { splitHostPort } from '../transport/local-address.ts';
import type { Flow } from '../transport/flow.ts';
import type { SipMessage } from '../sip/types.ts';
import { KeptConnections } from './kept-connections.ts';

/** The header a relayed request carries (lower case: how the proxy reads and drops it). */
export const HOP_HEADER = 'sipedge-hop';
/** How far a hop's time may be from the receiver's clock; ms. Nodes keep their clocks in step (NTP). */
const WINDOW_MS = 30_000;
/** Characters of the MAC kept (base64url, 128 bits). */
const MAC_CHARS = 22;

/** A verified hop: the node that sent it and, for a new request, the flow on this node to deliver it on. */
export interface Hop {
  from: string;
  flowId: string | undefined;
}

/** Which nodes are alive and where their internal hop listens (registrar/node-registry.ts, through app.ts). */
export interface NodeDirectory {
  /** host:port of a live node's internal hop; undefined for a dead or unknown node, or one without an address. */
  addressOf(nodeId: string): string | undefined;
}

/**
 * `Sipedge-Hop: node=<from>;to=<to>;t=<ms>[;flow=<flow id>];mac=<HMAC-SHA256>`. The MAC covers both node ids, the
 * time, the flow and the request's Call-ID and CSeq, under a key derived from the nonce secret (shared by every node,
 * like the route tokens' key): an outsider can neither forge one nor move one to another request or node. A relayed
 * request without a valid one is refused with 403 before anything else is looked at.
 */
export class NodeHops {
  private readonly key: Buffer;
  private readonly links = new KeptConnections();

  constructor(
    secret: string,
    private readonly nodeId: string,
    private readonly clock: Clock,
    private readonly connect: (host: string, port: number) => Promise<Flow>,
    private readonly logger: Logger,
  ) {
    this.key = createHash('sha256').update('sipedge node hop\0').update(secret).digest();
  }

  /** The header line for `req` relayed to node `to`; with flowId, `to` delivers it on that flow of its own. */
  header(req: SipMessage, to: string, flowId?: string): string {
    const t = this.clock.now();
    const mac = this.mac(req, this.nodeId, to, t, flowId ?? '');
    return `Sipedge-Hop: node=${this.nodeId};to=${to};t=${t}${flowId === undefined ? '' : ';flow=' + flowId};mac=${mac}`;
  }

  /** The hop a request's header proves, or undefined (forged, for another node, or outside the time window). */
  verify(req: SipMessage, value: string): Hop | undefined {
    const p = new Map<string, string>();
    for (const part of value.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0) p.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const from = p.get('node');
    const t = Number(p.get('t'));
    const got = p.get('mac');
    if (from === undefined || got === undefined || p.get('to') !== this.nodeId || !Number.isSafeInteger(t)) return undefined;
    if (Math.abs(this.clock.now() - t) > WINDOW_MS) return undefined;
    const flowId = p.get('flow');
    const want = Buffer.from(this.mac(req, from, this.nodeId, t, flowId ?? ''), 'latin1');
    const mac = Buffer.from(got, 'latin1');
    if (want.length !== mac.length || !timingSafeEqual(want, mac)) return undefined;
    return { from, flowId };
  }

  /** The kept connection to a node's internal hop address; undefined when it cannot be opened. */
  link(address: string): Flow | Promise<Flow | undefined> {
    const { host, port } = splitHostPort(address);
    return this.links.get(address, () => this.connect(host, port), (e) => {
      this.logger.warn({ event: 'node.hop_failed', address, code: e.code });
    });
  }

  private mac(req: SipMessage, from: string, to: string, t: number, flowId: string): string {
    return createHmac('sha256', this.key)
      .update([from, to, String(t), flowId, req.callId, String(req.cseq.seq), req.cseq.method].join('\0'))
      .digest('base64url')
      .slice(0, MAC_CHARS);
  }
}
