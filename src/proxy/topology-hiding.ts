// Topology hiding (DESIGN.md §7): a user sees the edge, not the upstream. The upstream's Contact becomes a URI at the
// edge whose user part is a token for the real one (unmasked when an in-dialog request comes back to it), and the
// upstream's Vias stay off the user's side (restored on the user's responses). Where requests go is proxy.ts's.
import type { SipMessage } from '../sip/types.ts';
import type { Flow } from '../transport/flow.ts';
import type { OwnAddresses } from './own-addresses.ts';
import type { BranchTarget, ResponseEditor } from './proxy-transaction.ts';
import type { RouteTokens } from './route-token.ts';

export class TopologyHiding {
  constructor(
    private readonly tokens: RouteTokens,
    private readonly addresses: OwnAddresses,
  ) {}

  /** A request from an upstream to a user, on its way to `target`: only our Via, and the upstream's Contact masked. */
  hideUpstream(req: SipMessage, target: BranchTarget, sips: boolean): void {
    target.dropVias = true;
    target.contact = this.maskContact(req, req.header('contact'), target.flow, sips);
  }

  /** Responses from a user to an upstream's request: the upstream's own Vias, removed on the way out, come back. */
  restoreVias(req: SipMessage): ResponseEditor {
    const edit = { vias: req.headerLines('via') };
    return () => edit;
  }

  /** Responses from an upstream to a user's request: the upstream's Contact becomes one at the edge. */
  maskResponses(userFlow: Flow, sips: boolean): ResponseEditor {
    return (res) => {
      const c = res.header('contact');
      return c === undefined ? undefined : { contact: this.maskContact(res, c, userFlow, sips) };
    };
  }

  /** The real Request-URI behind a masked Contact, or undefined (keep it) when it is not one of ours. */
  unmask(requestUri: string): string | undefined {
    const colon = requestUri.indexOf(':');
    const at = requestUri.indexOf('@');
    if (at <= colon + 1) return undefined;
    const t = this.tokens.verify(requestUri.slice(colon + 1, at))?.target;
    return t !== undefined && t.kind === 'uri' ? t.uri : undefined;
  }

  /**
   * The upstream's Contact as a URI at the edge (on `flow`'s side) whose user part is a token for the real one; a sips:
   * URI in a SIPS dialog (RFC 3261 §8.1.1.8). Several contacts (a 3xx) are left as they are.
   */
  private maskContact(msg: SipMessage, value: string | undefined, flow: Flow, sips: boolean): string | undefined {
    if (value === undefined || msg.headerValues('contact').length !== 1) return undefined;
    const lt = value.indexOf('<');
    let uri: string;
    if (lt >= 0) {
      const gt = value.indexOf('>', lt);
      uri = value.slice(lt + 1, gt < 0 ? value.length : gt);
    } else {
      const semi = value.indexOf(';');
      uri = semi < 0 ? value : value.slice(0, semi);
    }
    const l = this.addresses.of(flow);
    const token = this.tokens.mint({ kind: 'uri', uri: uri.trim() });
    return (sips ? '<sips:' : '<sip:') + token + '@' + l.uriHost + ':' + l.port + (sips ? l.sipsContactSuffix : l.contactSuffix);
  }
}
