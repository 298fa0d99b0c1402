// Flow tokens in the edge's Record-Route user part: which peer the next in-dialog request on that side goes to.
// Writing the Record-Route values and routing by them is proxy.ts's; the flows themselves are transport/'s.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Where an in-dialog request leaves the edge: a user's flow (by Flow.id) or a configured upstream (by uri); or, in a
 * masked Contact, the upstream's real contact URI (topology-hiding.ts).
 */
export type RouteTarget = { kind: 'flow'; flowId: string } | { kind: 'upstream'; uri: string } | { kind: 'uri'; uri: string };

const KIND_CHAR = { flow: 'f', upstream: 'u', uri: 'c' } as const;

/** Characters of the MAC kept in a token (base64url, 72 bits). */
const MAC_CHARS = 12;
/** Verified tokens kept, so that ACK and BYE of a dialog do not pay for the HMAC again. */
const CACHE_MAX = 20_000;

/**
 * Tokens are `<base64url(kind + value)>.<base64url(HMAC-SHA256(key, payload))[0..12]>`: only the edge can mint one,
 * so a request cannot steer the edge to an arbitrary address by forging a Route (RFC 5626 §5.2 makes the same demand
 * of flow tokens). The key derives from the nonce secret, so every node of a deployment verifies every node's tokens
 * and they survive a restart.
 */
export class RouteTokens {
  private readonly key: Buffer;
  private readonly cache = new Map<string, RouteTarget>();
  /** Minted tokens by payload: every call of a phone (or to one PBX contact) reuses its token without a new HMAC. */
  private readonly minted = new Map<string, string>();

  constructor(secret: string) {
    this.key = createHash('sha256').update('sipedge record-route\0').update(secret).digest();
  }

  mint(target: RouteTarget): string {
    const text = KIND_CHAR[target.kind] + (target.kind === 'flow' ? target.flowId : target.uri);
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

  /** The target of a token this edge minted, or undefined (not ours, or tampered with). */
  verify(token: string): RouteTarget | undefined {
    const hit = this.cache.get(token);
    if (hit !== undefined) return hit;
    const dot = token.indexOf('.');
    if (dot <= 0 || token.length - dot - 1 !== MAC_CHARS) return undefined;
    const payload = token.slice(0, dot);
    const want = Buffer.from(this.mac(payload), 'latin1');
    const got = Buffer.from(token.slice(dot + 1), 'latin1');
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    const text = Buffer.from(payload, 'base64url').toString('utf8');
    const value = text.slice(1);
    let target: RouteTarget;
    if (text[0] === 'f') target = { kind: 'flow', flowId: value };
    else if (text[0] === 'u') target = { kind: 'upstream', uri: value };
    else if (text[0] === 'c') target = { kind: 'uri', uri: value };
    else return undefined;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(token, target);
    return target;
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url').slice(0, MAC_CHARS);
  }
}
