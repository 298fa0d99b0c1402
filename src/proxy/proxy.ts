// The stateful proxy (RFC 3261 §16; DESIGN.md §6-7): which requests go where. Users' requests go to their one chosen
// upstream (or, with none configured, to the called user's registered contacts); upstreams' requests fork to the called
// user's contacts; in-dialog requests follow the edge's Record-Route; a contact or dialog held by another node is
// reached through that node (node-hop.ts). Per-request state is proxy-transaction.ts's.
import type { AddressInfo } from 'node:net';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Identities } from '../auth/identity.ts';
import type { Logger } from '../observability/logger.ts';
import { cellsByFinalClass } from '../observability/fast-histogram.ts';
import type { Metrics } from '../observability/metrics.ts';
import { forwardRequest } from '../sip/forward.ts';
import { newBranch } from '../sip/random.ts';
import { parseUri } from '../sip/uri.ts';
import { SipError, type SipMessage, type SipUri } from '../sip/types.ts';
import type { Binding, BindingStore, Tenant } from '../store/types.ts';
import type { ClientTransactionHandle, ClientTransactions } from '../transaction/client-transaction.ts';
import { errorResponse } from '../transaction/error-response.ts';
import { TimerWheel } from '../transaction/timer-wheel.ts';
import type { ServerTransaction } from '../transaction/types.ts';
import type { Flow } from '../transport/flow.ts';
import { OwnAddresses } from './own-addresses.ts';
import type { MediaAnchor } from './media-anchor.ts';
import type { RelayRefusal } from '../relay/media-relay.ts';
import { ProxyTx, type AcceptedInvite, type BranchTarget, type BranchTimer, type MediaSession, type ProxyHost, type ResponseEditor } from './proxy-transaction.ts';
import { MergedRequests } from './merged-requests.ts';
import { HOP_HEADER, type Hop, type NodeDirectory, type NodeHops } from './node-hop.ts';
import type { RouteTarget, RouteTokens } from './route-token.ts';
import { TopologyHiding } from './topology-hiding.ts';
import type { UpstreamChooser } from './upstream-chooser.ts';
import type { UpstreamFlows } from './upstream-flows.ts';
import type { Upstream, UpstreamSet } from './upstream-set.ts';
import type { UserAdmission } from './user-admission.ts';

/** What the proxy needs of transport/: flows to users it did not hear from on this request. */
export interface ProxyTransport {
  udpFlow(address: string, port: number): Flow;
  getFlow(id: string): Flow | undefined;
}

export interface ProxyDeps {
  config: Config['proxy'];
  /** sip.advertisedHost: the host (and port) the edge names itself in Via and Record-Route; '' = listen addresses. */
  advertisedHost: string;
  set: UpstreamSet;
  /** The flows to the upstreams (shared with the set's probes) and which upstream a request came from. */
  upstreams: UpstreamFlows;
  chooser: UpstreamChooser;
  admission: UserAdmission;
  /** Which tenant and extension a Request-URI names (auth/identity.ts). */
  identities: Identities;
  bindings: BindingStore;
  clients: ClientTransactions;
  /** transaction/TransactionLayer.matchInvite: the INVITE a CANCEL names (§9.2). */
  matchInvite(cancel: SipMessage): ServerTransaction | undefined;
  transport: ProxyTransport;
  tokens: RouteTokens;
  /** Media anchoring through rtpengine (README "WebRTC media"): which calls, and their SDP on the way through. */
  anchor: MediaAnchor;
  /** The internal hop to other nodes, and which of them are alive where. */
  hops: NodeHops;
  nodes: NodeDirectory;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  nodeId: string;
}

/** Methods that create dialogs: the edge Record-Routes them so that in-dialog requests come back through it (§16.6 step 4). */
const RECORD_ROUTE_METHODS = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);
/** How long a 2xx-answered INVITE is remembered for its 2xx retransmissions (RFC 6026 Timer L, 64*T1); ms. */
const ACCEPTED_MS = 32_000;
/** Reasons the proxy refuses a request itself (metric label, closed set). */
type RejectReason = 'merged' | 'loop' | 'too-many-hops' | 'no-route' | 'no-upstream' | 'unavailable' | 'forbidden' | 'no-media-relay';

export class Proxy {
  private readonly d: ProxyDeps;
  private readonly merged: MergedRequests;
  private readonly wheel: TimerWheel<BranchTimer>;
  /** INVITE server transactions being proxied (null: still being admitted), for CANCEL (§16.10). */
  private readonly inviteTx = new WeakMap<ServerTransaction, ProxyTx | null>();
  /** Our branch -> proxied INVITE answered 2xx, in arrival order, for 2xx retransmissions (§16.7 step 9). */
  private readonly accepted = new Map<string, { tx: AcceptedInvite; at: number }>();
  private readonly own: OwnAddresses;
  private readonly hiding: TopologyHiding;
  private readonly host: ProxyHost;
  private readonly routes: Record<'to-upstream' | 'from-upstream' | 'local' | 'in-dialog' | 'from-node', { inc(): void }>;
  private readonly rejects = new Map<RejectReason, { inc(): void }>();
  private readonly failovers: { inc(): void };

  constructor(deps: ProxyDeps) {
    this.d = deps;
    this.merged = new MergedRequests(deps.clock);
    this.own = new OwnAddresses(deps.advertisedHost);
    this.hiding = new TopologyHiding(deps.tokens, this.own);
    this.wheel = new TimerWheel<BranchTimer>({
      clock: deps.clock,
      resolutionMs: 100,
      onExpire: (t) => t.fire(),
      onError: (err) => this.unexpected(err),
    });
    const m = deps.metrics;
    this.routes = {
      'to-upstream': m.proxyRequests.labels('to-upstream'),
      'from-upstream': m.proxyRequests.labels('from-upstream'),
      local: m.proxyRequests.labels('local'),
      'in-dialog': m.proxyRequests.labels('in-dialog'),
      'from-node': m.proxyRequests.labels('from-node'),
    };
    this.failovers = m.proxyFailovers;
    const cfg = deps.config;
    const clients = deps.clients;
    this.host = {
      send: (bytes, meta, _tx, b): ClientTransactionHandle => clients.send(bytes, meta, b ?? CANCEL_HANDLERS),
      via: (flow, branch) => {
        const l = this.own.of(flow);
        return { value: l.viaPrefix + branch, sentBy: l.sentBy };
      },
      schedule: (t, ms) => void this.wheel.schedule(t, ms),
      accepted: (b, a) => this.remember(b.id, a),
      failover: (tx, failed) => this.failover(tx, failed),
      failoverTimeoutMs: cfg.failoverTimeoutSeconds * 1000,
      timerCMs: cfg.timerCSeconds * 1000,
      inviteTimes: { provisional: m.proxyInviteProvisionalSeconds.labels(), final: cellsByFinalClass(m.proxyInviteFinalSeconds) },
      onError: (err) => this.unexpected(err),
    };
  }

  /** Learns the bound listen addresses (after transport.listen) and resolves upstream host names to source IPs. */
  async start(addrs: { udp?: AddressInfo; tcp?: AddressInfo; tls?: AddressInfo; ws?: AddressInfo; wss?: AddressInfo }): Promise<void> {
    this.own.learn(addrs);
    await this.d.upstreams.start(this.d.set.all());
  }

  /** The configured upstream a request came from (by source IP), or undefined for anybody else. */
  private upstreamOf(req: SipMessage): Upstream | undefined {
    const src = req.source;
    return src === undefined ? undefined : this.d.upstreams.from(src.address);
  }

  /**
   * The upstream a new request comes from: its source IP is a configured upstream's. One exception, for a PBX and
   * phones on one host (a lab, a small box): a request from another port than the upstream's that comes from the
   * very address/flow the From user registered from is that phone's, not the PBX's.
   */
  private async upstreamSource(req: SipMessage): Promise<Upstream | undefined> {
    const up = this.upstreamOf(req);
    if (up === undefined || req.source!.port === up.port) return up;
    return (await this.d.admission.isRegisteredPhone(req)) ? undefined : up;
  }

  /**
   * Admission for local services (LocalService): true for a request from a configured upstream or an admitted user
   * (the tenant's policy: 407 digest, or a registered source). When false the request has been answered (403, 407,
   * 400, 503).
   */
  async admit(tx: ServerTransaction): Promise<boolean> {
    try {
      if ((await this.upstreamSource(tx.request)) !== undefined) return true;
      return (await this.d.admission.admit(tx)) !== undefined;
    } catch (e) {
      this.fail(tx, e);
      return false;
    }
  }

  /** A new request for the proxy (not REGISTER, not CANCEL, not one a local service owns). */
  onRequest(tx: ServerTransaction): Promise<void> {
    return this.route(tx).catch((e: unknown) => this.fail(tx, e));
  }

  /** §16.10: a CANCEL is answered 200 by this hop and cancels the pending branches of its INVITE; unknown: 481. */
  onCancel(tx: ServerTransaction): void {
    const invite = this.d.matchInvite(tx.request);
    const state = invite === undefined ? undefined : this.inviteTx.get(invite);
    if (invite === undefined || state === undefined) {
      tx.respond(481, 'Call/Transaction Does Not Exist');
      return;
    }
    tx.respond(200, 'OK');
    if (state === null) invite.respond(487, 'Request Terminated');
    else state.cancel();
  }

  /** An ACK for a 2xx (its own transaction, §13.2.2.4): forwarded statelessly along our Record-Route. */
  onStrayAck(ack: SipMessage): void {
    try {
      const routes = ack.headerValues('route');
      const { count, target } = this.ourRoutes(routes);
      if (target === undefined) return;
      const flow = this.flowOf(target);
      // An ACK answering a 2xx's offer in an anchored call (a late offer) carries an SDP for rtpengine to rewrite.
      const body = this.d.anchor.ackBody(ack);
      if (flow === undefined || flow instanceof Promise || body !== undefined) {
        void Promise.all([flow, body])
          .then(([f, b]) => f && this.sendAck(ack, f, routes, count, target, b))
          .catch((e: unknown) => this.unexpected(e));
        return;
      }
      this.sendAck(ack, flow, routes, count, target);
    } catch (e) {
      if (!(e instanceof SipError)) this.unexpected(e);
    }
  }

  /** A response no client transaction wants: a retransmitted 2xx to an INVITE we forwarded goes on (§16.7 step 9). */
  onStrayResponse(res: SipMessage): void {
    if (res.status < 200 || res.status >= 300) return;
    try {
      const entry = this.accepted.get(res.topVia.branch);
      if (entry !== undefined) entry.tx.relayRetransmission(res);
    } catch (e) {
      if (!(e instanceof SipError)) this.unexpected(e);
    }
  }

  /** Live protocol state, for tests and metrics. */
  get stats(): { merged: number; accepted: number; timers: number } {
    return { merged: this.merged.size, accepted: this.accepted.size, timers: this.wheel.size };
  }

  close(): void {
    this.wheel.close();
    this.accepted.clear();
  }

  private async route(tx: ServerTransaction): Promise<void> {
    const req = tx.request;
    const isInvite = req.method === 'INVITE';
    if (isInvite) this.inviteTx.set(tx, null);
    // §16.3 step 3: Max-Forwards 0 is not forwarded.
    if (req.maxForwards === 0) {
      this.reject(tx, 483, 'Too Many Hops', 'too-many-hops');
      return;
    }
    // A request relayed by another node: its Sipedge-Hop must prove it (node-hop.ts), or nothing else is looked at.
    const hopValue = req.header(HOP_HEADER);
    const hop = hopValue === undefined ? undefined : this.d.hops.verify(req, hopValue);
    if (hopValue !== undefined && hop === undefined) {
      this.d.logger.warn({ event: 'node.hop_refused', source: req.source?.address, callId: req.callId });
      this.reject(tx, 403, 'Forbidden', 'forbidden');
      return;
    }
    if (hop?.flowId !== undefined) {
      await this.deliver(tx, hop, hop.flowId);
      return;
    }
    // §16.4: Route values naming this edge are removed; the last one of ours (a Record-Route we wrote) says where to.
    const routes = req.headerValues('route');
    const { count, target } = routes.length === 0 ? NO_ROUTE : this.ourRoutes(routes);
    const rest = count === 0 ? undefined : routes.slice(count);
    if (target !== undefined) {
      await this.inDialog(tx, target, routes.slice(count), hop !== undefined);
      return;
    }
    if (hop !== undefined) {
      // Relayed, but neither for a flow here nor along a Route value of this node: not ours to act on.
      this.reject(tx, 403, 'Forbidden', 'forbidden');
      return;
    }
    if (req.to.tag !== undefined) {
      // In dialog, but not through this edge's Record-Route: no dialog we know of.
      this.reject(tx, 481, 'Call/Transaction Does Not Exist', 'no-route');
      return;
    }
    // §16.3 step 4 (loop) and §8.2.2.2 (merged): both 482.
    if (this.own.isLoop(req)) {
      this.reject(tx, 482, 'Loop Detected', 'loop');
      return;
    }
    if (this.merged.isMerged(req.from.tag ?? '', req.callId, req.cseq.seq, req.method, req.topVia.branch)) {
      this.reject(tx, 482, 'Loop Detected', 'merged');
      return;
    }
    const upstream = await this.upstreamSource(req);
    if (upstream !== undefined) await this.fromUpstream(tx, upstream, rest);
    else await this.fromUser(tx, rest);
  }

  /** DESIGN.md §6: a request from an upstream to a user forks to all the user's registered contacts. */
  private async fromUpstream(tx: ServerTransaction, upstream: Upstream, route: string[] | undefined): Promise<void> {
    const req = tx.request;
    const called = await this.calledUser(req.ruri, req);
    if (called === undefined) {
      this.reject(tx, 404, 'Not Found', 'no-route');
      return;
    }
    const sips = isSips(req);
    const rr = RECORD_ROUTE_METHODS.has(req.method) ? this.recordRoute(tx.flow, { kind: 'upstream', uri: upstream.uri }, sips) : undefined;
    const targets = await this.locate(req, called.ext + '@' + called.tenant.code, route, rr, sips);
    for (const t of targets) this.hiding.hideUpstream(req, t, sips);
    this.routes['from-upstream'].inc();
    await this.forward(tx, targets, undefined, undefined, this.hiding.restoreVias(req));
  }

  /** DESIGN.md §6-7: an admitted user's request goes to its one upstream, or (none configured) to the called user. */
  private async fromUser(tx: ServerTransaction, route: string[] | undefined): Promise<void> {
    const req = tx.request;
    const caller = await this.d.admission.admit(tx);
    if (caller === undefined) return;
    const drop = caller.viaDigest ? DROP_PROXY_AUTH : undefined;
    const sips = isSips(req);
    if (this.d.set.all().length > 0) {
      const upstream = await this.d.chooser.choose(caller.aor);
      if (upstream === undefined) {
        this.reject(tx, 503, 'Service Unavailable', 'no-upstream', RETRY_AFTER);
        return;
      }
      if (sips && upstream.transport !== 'tls') {
        // RFC 3261 §26.2.2: a SIPS request travels over TLS on every hop; this extension's upstream is not TLS.
        this.reject(tx, 480, 'Temporarily Unavailable', 'no-route', SIPS_WARNING);
        return;
      }
      const target = await this.upstreamTarget(tx, upstream, route);
      if (target === undefined) {
        this.reject(tx, 503, 'Service Unavailable', 'unavailable', RETRY_AFTER);
        return;
      }
      this.routes['to-upstream'].inc();
      await this.forward(tx, [target], caller.aor, drop, this.hiding.maskResponses(tx.flow, sips));
      return;
    }
    const called = await this.calledUser(req.ruri, req);
    if (called === undefined || called.tenant.code !== caller.tenant.code) {
      this.reject(tx, 404, 'Not Found', 'no-route');
      return;
    }
    const rr = RECORD_ROUTE_METHODS.has(req.method) ? this.recordRoute(tx.flow, { kind: 'flow', flowId: tx.flow.id }, sips) : undefined;
    const targets = await this.locate(req, called.ext + '@' + called.tenant.code, route, rr, sips);
    this.routes.local.inc();
    await this.forward(tx, targets, undefined, drop);
  }

  /**
   * An in-dialog request along our Record-Route to the peer the token names (topology hiding kept up both ways), or to
   * the node that holds the dialog's other side (one hop, Sipedge-Hop; that node follows its own Route values). A dialog
   * of a node that is dead or unknown is refused with 403: the token is not this node's to deliver.
   */
  private async inDialog(tx: ServerTransaction, target: RouteTarget, route: string[], fromNode: boolean): Promise<void> {
    const req = tx.request;
    if (target.kind === 'node' && (fromNode || this.d.nodes.addressOf(target.nodeId) === undefined)) {
      this.reject(tx, 403, 'Forbidden', 'forbidden');
      return;
    }
    const flow = await this.flowOf(target);
    if (flow === undefined) {
      this.reject(tx, 480, 'Temporarily Unavailable', 'unavailable');
      return;
    }
    this.routes['in-dialog'].inc();
    const sips = isSips(req);
    const drop = fromNode ? DROP_HOP : undefined;
    const headers = target.kind === 'node' ? [this.d.hops.header(req, target.nodeId)] : undefined;
    if (target.kind === 'upstream') {
      const t: BranchTarget = { flow, route, requestUri: this.hiding.unmask(req.requestUri) };
      await this.forward(tx, [t], undefined, drop, this.hiding.maskResponses(tx.flow, sips));
    } else if (this.upstreamOf(req) !== undefined) {
      const t: BranchTarget = { flow, route, headers };
      this.hiding.hideUpstream(req, t, sips);
      await this.forward(tx, [t], undefined, drop, this.hiding.restoreVias(req));
    } else await this.forward(tx, [{ flow, route, headers }], undefined, drop);
  }

  /**
   * A new request another node relayed for a contact whose flow this node holds (Sipedge-Hop flow=): it goes out on that
   * flow as the other node addressed it, Record-Routed here too (the contact's side names the flow, the other side names
   * the relaying node) so that the dialog's requests come back through both nodes.
   */
  private async deliver(tx: ServerTransaction, hop: Hop, flowId: string): Promise<void> {
    const flow = this.d.transport.getFlow(flowId);
    if (flow === undefined || !flow.isOpen) {
      this.reject(tx, 480, 'Temporarily Unavailable', 'unavailable');
      return;
    }
    this.routes['from-node'].inc();
    const req = tx.request;
    const sips = isSips(req);
    const recordRoute = RECORD_ROUTE_METHODS.has(req.method)
      ? [this.rrValue(flow, { kind: 'flow', flowId }, sips), this.rrValue(tx.flow, { kind: 'node', nodeId: hop.from }, sips)]
      : undefined;
    await this.forward(tx, [{ flow, recordRoute }], undefined, DROP_HOP);
  }

  private async forward(
    tx: ServerTransaction,
    targets: BranchTarget[],
    aor: string | undefined,
    drop: string[] | undefined,
    respEdit?: ResponseEditor,
  ): Promise<void> {
    // A CANCEL may have ended the INVITE while we looked things up (onCancel answered 487).
    if (tx.isCompleted) return;
    const req = tx.request;
    const isInvite = req.method === 'INVITE';
    // §16.2 / §16.7: the proxy answers 100 Trying itself (hop by hop) so the caller stops retransmitting, also while
    // rtpengine rewrites the offer.
    if (isInvite && targets.length > 0) tx.respond(100, 'Trying');
    let media: MediaSession | undefined;
    if (targets.length > 0) {
      let m = req.to.tag === undefined ? (isInvite ? this.d.anchor.invite(req, tx.flow, targets) : undefined) : this.d.anchor.inDialog(req, targets[0]!);
      if (m instanceof Promise) m = await m;
      if (m !== undefined && isRefusal(m)) {
        this.reject(tx, m.status, m.reason, 'no-media-relay', m.headers);
        return;
      }
      media = m;
      if (tx.isCompleted) {
        // CANCELled while rtpengine was asked: the call it anchored ends with it.
        media?.finished(487);
        return;
      }
    }
    const ptx = new ProxyTx(this.host, tx, aor, drop, respEdit);
    ptx.media = media;
    if (ptx.isInvite) this.inviteTx.set(tx, ptx);
    ptx.start(targets);
  }

  private async upstreamTarget(tx: ServerTransaction, u: Upstream, route: string[] | undefined): Promise<BranchTarget | undefined> {
    const flow = await this.d.upstreams.flowFor(u);
    if (flow === undefined) return undefined;
    const req = tx.request;
    const sips = isSips(req);
    const recordRoute = RECORD_ROUTE_METHODS.has(req.method)
      ? [this.rrValue(flow, { kind: 'upstream', uri: u.uri }, sips), this.rrValue(tx.flow, { kind: 'flow', flowId: tx.flow.id }, sips)]
      : undefined;
    return { flow, upstream: u, route, recordRoute };
  }

  /** ProxyHost.failover: the extension moves to another healthy upstream and the request is re-sent there, once. */
  private async failover(ptx: ProxyTx, failed: Upstream): Promise<BranchTarget | undefined> {
    const next = await this.d.chooser.failover(ptx.aor!, failed);
    if (next === undefined) return undefined;
    this.failovers.inc();
    this.d.logger.debug({ event: 'proxy.failover', aor: ptx.aor, from: failed.uri, to: next.uri });
    return await this.upstreamTarget(ptx.server, next, undefined);
  }

  /**
   * Record-Route for a request arriving on `inFlow`: the second value is ours facing the caller; the first is added per
   * target, naming the callee's side (its flow, or the node that holds it).
   */
  private recordRoute(inFlow: Flow, caller: RouteTarget, sips: boolean): (flow: Flow, callee: RouteTarget) => string[] {
    const callerSide = this.rrValue(inFlow, caller, sips);
    return (flow, callee) => [this.rrValue(flow, callee, sips), callerSide];
  }

  /**
   * One Record-Route value: our address on flow's transport, with a token naming the peer on that side. Always two
   * values per dialog (RFC 5658 double Record-Route, also when both sides use one transport): the callee's route set
   * starts with the callee-facing one, the caller's with the caller-facing one, and the last of ours a request carries
   * names where it goes next. In a SIPS dialog the values are sips: URIs (RFC 3261 §16.6 step 4); SIPS requests only
   * travel on TLS/WSS flows (locate, fromUser), so the flow here is one of those.
   */
  private rrValue(flow: Flow, peer: RouteTarget, sips: boolean): string {
    const l = this.own.of(flow);
    const token = this.d.tokens.mint(peer);
    return (sips ? '<sips:' : '<sip:') + token + '@' + l.uriHost + ':' + l.port + (sips ? l.sipsRrSuffix : l.rrSuffix);
  }

  /** The called user of a Request-URI (its host a tenant domain, or the shared domain's ext-tenant), else the To host. */
  private async calledUser(ruri: SipUri, req: SipMessage): Promise<{ tenant: Tenant; ext: string } | undefined> {
    if ((ruri.scheme !== 'sip' && ruri.scheme !== 'sips') || ruri.user === '') return undefined;
    // A PBX may address the edge by IP and name the tenant only in To.
    const id = (await this.d.identities.of(ruri.user, ruri.host)) ?? (await this.d.identities.of(ruri.user, parseUri(req.to.uri, 'To').host));
    return id?.tenant === undefined ? undefined : { tenant: id.tenant, ext: id.ext };
  }

  /**
   * The AOR's contacts as targets (§16.5), each once: TCP/TLS/WS/WSS on their own flow, UDP at received/rport, both
   * through the node that holds them when that is another live node (one hop; it delivers on the flow, so a phone
   * behind NAT is reached through its own pinhole). For a SIPS request only contacts on TLS or WSS flows (RFC 3261
   * §26.2.2: TLS on every hop); none left means 480.
   */
  private async locate(
    req: SipMessage,
    aor: string,
    route: string[] | undefined,
    rr: ((flow: Flow, callee: RouteTarget) => string[]) | undefined,
    sips: boolean,
  ): Promise<BranchTarget[]> {
    const set = await this.d.bindings.get(aor, this.d.clock.now());
    const out: BranchTarget[] = [];
    for (const b of set.bindings) {
      if (sips && b.transport !== 'tls' && b.transport !== 'wss') continue;
      const remote = b.nodeId === this.d.nodeId || b.flowId === undefined ? undefined : this.d.nodes.addressOf(b.nodeId);
      if (remote !== undefined) {
        const link = await this.d.hops.link(remote);
        if (link === undefined) continue;
        out.push({
          flow: link,
          requestUri: b.contact,
          route: b.path.length > 0 ? b.path : route,
          recordRoute: rr === undefined ? undefined : rr(link, { kind: 'node', nodeId: b.nodeId }),
          headers: [this.d.hops.header(req, b.nodeId, b.flowId)],
        });
        continue;
      }
      const flow = this.flowOfBinding(b);
      if (flow === undefined) continue;
      out.push({
        flow,
        requestUri: b.contact,
        route: b.path.length > 0 ? b.path : route,
        recordRoute: rr === undefined ? undefined : rr(flow, { kind: 'flow', flowId: flow.id }),
      });
    }
    return out;
  }

  /**
   * A binding's flow on this node. A UDP contact of a node that is gone is tried from this node's socket (reaches
   * phones without NAT); a connection held by another node without a live hop is skipped (the connection died with it).
   */
  private flowOfBinding(b: Binding): Flow | undefined {
    if (b.transport === 'udp') return this.d.transport.udpFlow(b.sourceAddress, b.sourcePort);
    if (b.nodeId !== this.d.nodeId || b.flowId === undefined) return undefined;
    const flow = this.d.transport.getFlow(b.flowId);
    return flow !== undefined && flow.isOpen ? flow : undefined;
  }

  private flowOf(target: RouteTarget): Flow | undefined | Promise<Flow | undefined> {
    if (target.kind === 'flow') {
      const flow = this.d.transport.getFlow(target.flowId);
      return flow !== undefined && flow.isOpen ? flow : undefined;
    }
    if (target.kind === 'node') {
      const address = this.d.nodes.addressOf(target.nodeId);
      return address === undefined ? undefined : this.d.hops.link(address);
    }
    const u = this.d.set.get(target.uri);
    return u === undefined ? undefined : this.d.upstreams.flowFor(u);
  }

  /**
   * How many leading Route values are ours, and the target in the last one of ours that carries a token. A value is
   * ours when its user part is a token this node minted, or (a preloaded outbound-proxy Route) its host:port is ours.
   * Another node's token ends the scan: with no token of ours before it, the target is that node (the request is
   * relayed there with its Route values from that one on), never a local flow of the same id.
   */
  private ourRoutes(routes: string[]): { count: number; target: RouteTarget | undefined } {
    let count = 0;
    let target: RouteTarget | undefined;
    for (const v of routes) {
      const lt = v.indexOf('<');
      const gt = lt < 0 ? -1 : v.indexOf('>', lt);
      const uri = lt < 0 ? v : v.slice(lt + 1, gt < 0 ? v.length : gt);
      const colon = uri.indexOf(':');
      const at = uri.indexOf('@');
      const t = at > colon + 1 ? this.d.tokens.verify(uri.slice(colon + 1, at)) : undefined;
      if (t !== undefined && t.node !== '' && t.node !== this.d.nodeId) {
        if (target === undefined) target = { kind: 'node', nodeId: t.node };
        break;
      }
      if (t !== undefined) {
        target = t.target;
        count++;
        continue;
      }
      if (at < 0 && this.own.isOwnUri(uri)) {
        count++;
        continue;
      }
      break;
    }
    return { count, target };
  }

  private sendAck(ack: SipMessage, flow: Flow, routes: string[], count: number, target: RouteTarget, body?: Buffer): void {
    const l = this.own.of(flow);
    const toUpstream = target.kind === 'upstream';
    flow.send(
      forwardRequest(ack, {
        via: l.viaPrefix + newBranch(),
        route: routes.slice(count),
        requestUri: toUpstream ? this.hiding.unmask(ack.requestUri) : undefined,
        dropVias: !toUpstream && this.upstreamOf(ack) !== undefined,
        body,
      }),
    );
  }

  private remember(branch: string, tx: AcceptedInvite): void {
    const now = this.d.clock.now();
    for (const [k, e] of this.accepted) {
      if (now - e.at < ACCEPTED_MS) break;
      this.accepted.delete(k);
    }
    this.accepted.set(branch, { tx, at: now });
  }

  private reject(tx: ServerTransaction, status: number, reason: string, why: RejectReason, headers?: string[]): void {
    let c = this.rejects.get(why);
    if (c === undefined) this.rejects.set(why, (c = this.d.metrics.proxyRejected.labels(why)));
    c.inc();
    tx.respond(status, reason, headers === undefined ? undefined : { headers });
  }

  private fail(tx: ServerTransaction, e: unknown): void {
    if (tx.isCompleted) return;
    const { cause, answer } = errorResponse(e, this.d, 'proxy');
    if (cause === 'store-unavailable') this.reject(tx, answer.status, answer.reason, 'unavailable', answer.headers);
    else tx.respond(answer.status, answer.reason, { headers: answer.headers });
  }

  private unexpected(e: unknown): void {
    this.d.logger.error({ event: 'proxy.error', err: (e as Error)?.stack ?? String(e) });
  }
}

const NO_ROUTE = { count: 0, target: undefined };

function isRefusal(m: MediaSession | RelayRefusal): m is RelayRefusal {
  return 'status' in m;
}
const SIPS_WARNING = ['Warning: 399 sipedge "a sips: request needs TLS to its target"'];

/** RFC 3261 §16.6 step 4 / §26.2.2: a request for a sips: Request-URI; its dialog uses sips: URIs and TLS hops. */
function isSips(req: SipMessage): boolean {
  return req.ruri.scheme === 'sips';
}

const DROP_PROXY_AUTH = ['proxy-authorization'];
/** A relayed request's Sipedge-Hop is for this node alone. */
const DROP_HOP = [HOP_HEADER];
const RETRY_AFTER = ['Retry-After: 5'];
/** A CANCEL's own client transaction: nothing to do with its response. */
const CANCEL_HANDLERS = { onResponse: (): void => undefined, onTimeout: (): void => undefined };

