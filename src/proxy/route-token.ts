// Flow tokens in the edge's Record-Route user part: which peer the next in-dialog request on that side goes to, and
// which node of a deployment holds it. Writing the Record-Route values and routing by them is proxy.ts's; the flows
// themselves are transport/'s; the hop to another node node-hop.ts's.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Where an in-dialog request leaves the edge: a user's flow (by Flow.id), a configured upstream (by uri), or another
 * node of the deployment (by node id, the internal hop); or, in a masked Contact, the upstream's real contact URI
 * (topology-hiding.ts).
 */
export type RouteTarget =
  | { kind: 'flow'; flowId: string }
  | { kind: 'upstream'; uri: string }
  | { kind: 'node'; nodeId: string }
  | { kind: 'uri'; uri: string };

/** A verified token: its target, and the node that minted it ('' for a masked Contact, which any node may unmask). */
export interface RouteToken {
  target: RouteTarget;
  node: string;
}

const KIND_CHAR = { flow: 'f', upstream: 'u', node: 'n', uri: 'c' } as const;

/** Characters of the MAC kept in a token (base64url, 72 bits). */
const MAC_CHARS = 12;
/** Verified tokens kept, so that ACK and BYE of a dialog do not pay for the HMAC again. */
const CACHE_MAX = 20_000;

/**
 * Tokens are `<base64url(kind + value)>.<base64url(HMAC-SHA256(key, payload))[0..12]>`: only the edge can mint one,
 * so a request cannot steer the edge to an arbitrary address by forging a Route (RFC 5626 §5.2 makes the same demand
 * of flow tokens). The key derives from the nonce secret, so every node of a deployment verifies every node's tokens
 * and they survive a restart. Flow, upstream and node targets carry the id of the node that minted them inside the
 * MAC'd payload: a flow id such as `ws:2` exists separately on every node, so a token names a connection only together
 * with its node, and a node that is handed another node's token relays the request there (proxy.ts), never to a
 * local flow of the same id.
 */
export class RouteTokens {
  private readonly key: Buffer;
  private readonly cache = new Map<string, RouteToken>();
  /** Minted tokens by payload: every call of a phone (or to one PBX contact) reuses its token without a new HMAC. */
  private readonly minted = new Map<string, string>();

  constructor(
    secret: string,
    /** This node's id (app.ts), written into every flow, upstream and node token it mints. */
    private readonly nodeId: string,
  ) {
    this.key = createHash('sha256').update('sipedge record-route\0').update(secret).digest();
  }

  /** A token for `target` on this node. */
  mint(target: RouteTarget): string {
    const text = KIND_CHAR[target.kind] + (target.kind === 'uri' ? target.uri : this.nodeId + NODE_END + valueOf(target));
    let token = this.minted.get(text);
    if (token === undefined) {
      const payload = Buffer.from(text, 'utf8').toString('base64url');
      token = payload + '.' + this.mac(payload);
      if (this.minted.size >= CACHE_MAX) this.minted.clear();
      // Flattened: text may be a slice of a whole message (a Contact value).
      this.minted.set((' ' + text).slice(1), token);
    }
    return token;
  }

  /** The target and node of a token a node of this deployment minted, or undefined (not ours, or tampered with). */
  verify(token: string): RouteToken | undefined {
    const hit = this.cache.get(token);
    if (hit !== undefined) return hit;
    const dot = token.indexOf('.');
    if (dot <= 0 || token.length - dot - 1 !== MAC_CHARS) return undefined;
    const payload = token.slice(0, dot);
    const want = Buffer.from(this.mac(payload), 'latin1');
    const got = Buffer.from(token.slice(dot + 1), 'latin1');
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    const text = Buffer.from(payload, 'base64url').toString('utf8');
    let result: RouteToken;
    if (text[0] === 'c') result = { target: { kind: 'uri', uri: text.slice(1) }, node: '' };
    else {
      const end = text.indexOf(NODE_END);
      if (end < 0) return undefined;
      const node = text.slice(1, end);
      const value = text.slice(end + 1);
      if (text[0] === 'f') result = { target: { kind: 'flow', flowId: value }, node };
      else if (text[0] === 'u') result = { target: { kind: 'upstream', uri: value }, node };
      else if (text[0] === 'n') result = { target: { kind: 'node', nodeId: value }, node };
      else return undefined;
    }
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(token, result);
    return result;
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url').slice(0, MAC_CHARS);
  }
}

/** Ends the node id in a token's payload (node ids are UUIDs or config names without spaces). */
const NODE_END = ' ';

function valueOf(t: Exclude<RouteTarget, { kind: 'uri' }>): string {
  return t.kind === 'flow' ? t.flowId : t.kind === 'upstream' ? t.uri : t.nodeId;
}
