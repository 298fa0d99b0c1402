// The stateful proxy (RFC 3261 §16; DESIGN.md §6-7): which requests go where. Users' requests go to their one chosen
// upstream (or, with none configured, to the called user's registered contacts); upstreams' requests fork to the called
// user's contacts; in-dialog requests follow the edge's Record-Route. Per-request state is proxy-transaction.ts's.
import { lookup } from 'node:dns/promises';
import { isIP, type AddressInfo } from 'node:net';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { resolveIdentity } from '../auth/authenticator.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { forwardRequest } from '../sip/forward.ts';
import { newBranch } from '../sip/random.ts';
import { parseUri } from '../sip/uri.ts';
import { SipError, type SipMessage, type SipUri } from '../sip/types.ts';
import { StoreUnavailable, type AccountStore, type Binding, type BindingStore, type Tenant } from '../store/types.ts';
import type { ClientTransactionHandle, ClientTransactions } from '../transaction/client-transaction.ts';
import { TimerWheel } from '../transaction/timer-wheel.ts';
import type { ServerTransaction } from '../transaction/types.ts';
import type { Flow } from '../transport/flow.ts';
import { isWildcard, localAddresses, splitHostPort, uriHost } from '../transport/local-address.ts';
import { Branch, ProxyTx, type BranchTarget, type ProxyHost, type ResponseEditor } from './proxy-transaction.ts';
import { MergedRequests } from './merged-requests.ts';
import type { RouteTarget, RouteTokens } from './route-token.ts';
import type { UpstreamChooser } from './upstream-chooser.ts';
import type { Upstream, UpstreamSet } from './upstream-set.ts';
import type { UserAdmission } from './user-admission.ts';

/** What the proxy needs of transport/: flows to peers it did not hear from on this request. */
export interface ProxyTransport {
  udpFlow(address: string, port: number): Flow;
  getFlow(id: string): Flow | undefined;
  connectTcp(host: string, port: number): Promise<Flow>;
}

export interface ProxyDeps {
  config: Config['proxy'];
  /** sip.advertisedHost: the host (and port) the edge names itself in Via and Record-Route; '' = listen addresses. */
  advertisedHost: string;
  set: UpstreamSet;
  chooser: UpstreamChooser;
  admission: UserAdmission;
  accounts: AccountStore;
  bindings: BindingStore;
  sharedDomain: string;
  clients: ClientTransactions;
  /** transaction/TransactionLayer.matchInvite: the INVITE a CANCEL names (§9.2). */
  matchInvite(cancel: SipMessage): ServerTransaction | undefined;
  transport: ProxyTransport;
  tokens: RouteTokens;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  nodeId: string;
}

/** The edge's own address on one transport. */
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
  /**
   * Bound to a wildcard without sip.advertisedHost: the host is chosen per peer (localAddresses) and this entry is
   * only the base; `byHost` keeps one Local per local host (a handful).
   */
  perPeer?: { kind: string; viaName: string; byHost: Map<string, Local> };
}

function makeLocal(kind: string, viaName: string, host: string, port: number): Local {
  const u = uriHost(host);
  return {
    uriHost: u,
    port,
    sentBy: host.toLowerCase() + ':' + port,
    viaPrefix: `SIP/2.0/${viaName} ${u}:${port};rport;branch=`,
    rrSuffix: `;transport=${kind};lr>`,
    contactSuffix: `;transport=${kind}>`,
  };
}

/** Methods that create dialogs: the edge Record-Routes them so that in-dialog requests come back through it (§16.6 step 4). */
const RECORD_ROUTE_METHODS = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);
/** How long a 2xx-answered INVITE is remembered for its 2xx retransmissions (RFC 6026 Timer L, 64*T1); ms. */
const ACCEPTED_MS = 32_000;
/** Reasons the proxy refuses a request itself (metric label, closed set). */
type RejectReason = 'merged' | 'loop' | 'too-many-hops' | 'no-route' | 'no-upstream' | 'unavailable' | 'forbidden';

export class Proxy {
  private readonly d: ProxyDeps;
  private readonly merged: MergedRequests;
  private readonly wheel: TimerWheel<Branch>;
  /** INVITE server transactions being proxied (null: still being admitted), for CANCEL (§16.10). */
  private readonly inviteTx = new WeakMap<ServerTransaction, ProxyTx | null>();
  /** Our branch -> proxied INVITE answered 2xx, in arrival order, for 2xx retransmissions (§16.7 step 9). */
  private readonly accepted = new Map<string, { tx: ProxyTx; at: number }>();
  private readonly locals = new Map<string, Local>();
  /** Every sent-by the edge writes, for loop detection (§16.3 step 4). */
  private readonly ownSentBys = new Set<string>();
  /** Source IP -> configured upstream (requests from these are "from upstream"). */
  private readonly upstreamByIp = new Map<string, Upstream>();
  private readonly udpUpstreamFlows = new Map<string, Flow>();
  private readonly tcpUpstreamFlows = new Map<string, Flow>();
  private readonly host: ProxyHost;
  private readonly routes: Record<'to-upstream' | 'from-upstream' | 'local' | 'in-dialog', { inc(): void }>;
  private readonly rejects = new Map<RejectReason, { inc(): void }>();
  private readonly failovers: { inc(): void };

  constructor(deps: ProxyDeps) {
    this.d = deps;
    this.merged = new MergedRequests(deps.clock);
    this.wheel = new TimerWheel<Branch>({
      clock: deps.clock,
      resolutionMs: 100,
      onExpire: (b, slot) => b.onTimer(slot),
      onError: (err) => this.unexpected(err),
    });
    const m = deps.metrics;
    this.routes = {
      'to-upstream': m.proxyRequests.labels('to-upstream'),
      'from-upstream': m.proxyRequests.labels('from-upstream'),
      local: m.proxyRequests.labels('local'),
      'in-dialog': m.proxyRequests.labels('in-dialog'),
    };
    this.failovers = m.proxyFailovers;
    for (const u of deps.set.all()) if (isIP(u.host)) this.upstreamByIp.set(u.host, u);
    const cfg = deps.config;
    const clients = deps.clients;
    this.host = {
      send: (bytes, meta, _tx, b): ClientTransactionHandle => clients.send(bytes, meta, b ?? CANCEL_HANDLERS),
      via: (flow, branch) => {
        const l = this.local(flow);
        return { value: l.viaPrefix + branch, sentBy: l.sentBy };
      },
      schedule: (b, ms) => this.wheel.schedule(b, ms),
      accepted: (b, tx) => this.remember(b.id, tx),
      failover: (tx, failed) => this.failover(tx, failed),
      failoverTimeoutMs: cfg.failoverTimeoutSeconds * 1000,
      timerCMs: cfg.timerCSeconds * 1000,
      onError: (err) => this.unexpected(err),
    };
  }

  /** Learns the bound listen addresses (after transport.listen) and resolves upstream host names to source IPs. */
  async start(addrs: { udp?: AddressInfo; tcp?: AddressInfo; ws?: AddressInfo }): Promise<void> {
    const adv = splitHostPort(this.d.advertisedHost);
    const add = (kind: string, a: AddressInfo | undefined, viaName: string): void => {
      if (a === undefined) return;
      const port = adv.port > 0 && kind !== 'ws' ? adv.port : a.port;
      if (adv.host === '' && isWildcard(a.address)) {
        // Named per peer: a phone on the LAN gets the LAN address, one on this host 127.0.0.1 (see local-address.ts).
        const base = makeLocal(kind, viaName, '127.0.0.1', port);
        this.locals.set(kind, { ...base, perPeer: { kind, viaName, byHost: new Map() } });
        for (const own of localAddresses.all()) this.ownSentBys.add(own.toLowerCase() + ':' + port);
      } else {
        const l = makeLocal(kind, viaName, adv.host !== '' ? adv.host : a.address, port);
        this.locals.set(kind, l);
        this.ownSentBys.add(l.sentBy);
      }
      this.ownSentBys.add(a.address.toLowerCase() + ':' + a.port);
    };
    add('udp', addrs.udp, 'UDP');
    add('tcp', addrs.tcp, 'TCP');
    add('ws', addrs.ws, 'WS');
    for (const u of this.d.set.all()) {
      if (isIP(u.host)) continue;
      try {
        for (const r of await lookup(u.host, { all: true })) this.upstreamByIp.set(r.address, u);
      } catch (e) {
        this.d.logger.warn({ event: 'upstream.resolve_failed', upstream: u.uri, code: (e as NodeJS.ErrnoException).code });
      }
    }
  }

  /** The configured upstream a request came from (by source IP), or undefined for anybody else. */
  upstreamOf(req: SipMessage): Upstream | undefined {
    const src = req.source;
    return src === undefined ? undefined : this.upstreamByIp.get(src.address);
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
      if (flow === undefined || flow instanceof Promise) {
        if (flow !== undefined) void flow.then((f) => f && this.sendAck(ack, f, routes, count, target)).catch(() => undefined);
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
      if (entry !== undefined) entry.tx.server.relay(res.status, entry.tx.bytesOf(res));
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
    // §16.4: Route values naming this edge are removed; the last one of ours (a Record-Route we wrote) says where to.
    const routes = req.headerValues('route');
    const { count, target } = routes.length === 0 ? NO_ROUTE : this.ourRoutes(routes);
    const rest = count === 0 ? undefined : routes.slice(count);
    if (target !== undefined) {
      await this.inDialog(tx, target, rest ?? []);
      return;
    }
    if (req.to.tag !== undefined) {
      // In dialog, but not through this edge's Record-Route: no dialog we know of.
      this.reject(tx, 481, 'Call/Transaction Does Not Exist', 'no-route');
      return;
    }
    // §16.3 step 4 (loop) and §8.2.2.2 (merged): both 482.
    if (this.isLoop(req)) {
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

  /** Issue 3 point 4: a request from an upstream to a user forks to all the user's registered contacts. */
  private async fromUpstream(tx: ServerTransaction, upstream: Upstream, route: string[] | undefined): Promise<void> {
    const req = tx.request;
    const called = await this.calledUser(req.ruri, req);
    if (called === undefined) {
      this.reject(tx, 404, 'Not Found', 'no-route');
      return;
    }
    const rr = RECORD_ROUTE_METHODS.has(req.method) ? this.recordRoute(tx.flow, { kind: 'upstream', uri: upstream.uri }) : undefined;
    const targets = await this.locate(called.ext + '@' + called.tenant.code, route, rr);
    // Issue 3 point 8: the user sees the edge, not the upstream: only our Via, and a Contact at the edge.
    const contact = req.header('contact');
    for (const t of targets) {
      t.dropVias = true;
      t.contact = this.maskContact(req, contact, t.flow);
    }
    this.routes['from-upstream'].inc();
    this.forward(tx, targets, undefined, undefined, this.restoreVias(req));
  }

  /** Issue 3 point 3 / point 7: an admitted user's request goes to its one upstream, or to the called user directly. */
  private async fromUser(tx: ServerTransaction, route: string[] | undefined): Promise<void> {
    const req = tx.request;
    const caller = await this.d.admission.admit(tx);
    if (caller === undefined) return;
    const drop = caller.viaDigest ? DROP_PROXY_AUTH : undefined;
    if (this.d.set.all().length > 0) {
      const upstream = await this.d.chooser.choose(caller.aor);
      if (upstream === undefined) {
        this.reject(tx, 503, 'Service Unavailable', 'no-upstream', RETRY_AFTER);
        return;
      }
      const target = await this.upstreamTarget(tx, upstream, route);
      if (target === undefined) {
        this.reject(tx, 503, 'Service Unavailable', 'unavailable', RETRY_AFTER);
        return;
      }
      this.routes['to-upstream'].inc();
      this.forward(tx, [target], caller.aor, drop, this.maskResponses(tx.flow));
      return;
    }
    const called = await this.calledUser(req.ruri, req);
    if (called === undefined || called.tenant.code !== caller.tenant.code) {
      this.reject(tx, 404, 'Not Found', 'no-route');
      return;
    }
    const rr = RECORD_ROUTE_METHODS.has(req.method) ? this.recordRoute(tx.flow, { kind: 'flow', flowId: tx.flow.id }) : undefined;
    const targets = await this.locate(called.ext + '@' + called.tenant.code, route, rr);
    this.routes.local.inc();
    this.forward(tx, targets, undefined, drop);
  }

  /** An in-dialog request along our Record-Route to the peer the token names (topology hiding kept up both ways). */
  private async inDialog(tx: ServerTransaction, target: RouteTarget, route: string[]): Promise<void> {
    const flow = await this.flowOf(target);
    if (flow === undefined) {
      this.reject(tx, 480, 'Temporarily Unavailable', 'unavailable');
      return;
    }
    this.routes['in-dialog'].inc();
    const req = tx.request;
    if (target.kind === 'upstream') {
      this.forward(tx, [{ flow, route, requestUri: this.unmask(req.requestUri) }], undefined, undefined, this.maskResponses(tx.flow));
    } else if (this.upstreamOf(req) !== undefined) {
      const t: BranchTarget = { flow, route, dropVias: true, contact: this.maskContact(req, req.header('contact'), flow) };
      this.forward(tx, [t], undefined, undefined, this.restoreVias(req));
    } else this.forward(tx, [{ flow, route }], undefined, undefined);
  }

  /** Responses from an upstream to a user's request: the upstream's Contact becomes one at the edge. */
  private maskResponses(userFlow: Flow): ResponseEditor {
    return (res) => {
      const c = res.header('contact');
      return c === undefined ? undefined : { contact: this.maskContact(res, c, userFlow) };
    };
  }

  /** Responses from a user to an upstream's request: the upstream's own Vias, removed on the way out, come back. */
  private restoreVias(req: SipMessage): ResponseEditor {
    const vias = req.headerLines('via');
    const edit = { vias };
    return () => edit;
  }

  /**
   * The upstream's Contact as a URI at the edge (on `flow`'s side) whose user part is a token for the real one; an
   * in-dialog request to it gets its Request-URI back (unmask). Several contacts (a 3xx) are left as they are.
   */
  private maskContact(msg: SipMessage, value: string | undefined, flow: Flow): string | undefined {
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
    const l = this.local(flow);
    return '<sip:' + this.d.tokens.mint({ kind: 'uri', uri: uri.trim() }) + '@' + l.uriHost + ':' + l.port + l.contactSuffix;
  }

  /** The real Request-URI behind a masked Contact, or undefined (keep it) when it is not one of ours. */
  private unmask(requestUri: string): string | undefined {
    const colon = requestUri.indexOf(':');
    const at = requestUri.indexOf('@');
    if (at <= colon + 1) return undefined;
    const t = this.d.tokens.verify(requestUri.slice(colon + 1, at));
    return t !== undefined && t.kind === 'uri' ? t.uri : undefined;
  }

  private forward(
    tx: ServerTransaction,
    targets: BranchTarget[],
    aor: string | undefined,
    drop: string[] | undefined,
    respEdit?: ResponseEditor,
  ): void {
    // A CANCEL may have ended the INVITE while we looked things up (onCancel answered 487).
    if (tx.isCompleted) return;
    const ptx = new ProxyTx(this.host, tx, aor, drop, respEdit);
    if (ptx.isInvite) {
      this.inviteTx.set(tx, ptx);
      // §16.2 / §16.7: the proxy answers 100 Trying itself (hop by hop) so the caller stops retransmitting.
      if (targets.length > 0) tx.respond(100, 'Trying');
    }
    ptx.start(targets);
  }

  private async upstreamTarget(tx: ServerTransaction, u: Upstream, route: string[] | undefined): Promise<BranchTarget | undefined> {
    const flow = await this.upstreamFlow(u);
    if (flow === undefined) return undefined;
    const req = tx.request;
    const recordRoute = RECORD_ROUTE_METHODS.has(req.method)
      ? [this.rrValue(flow, { kind: 'upstream', uri: u.uri }), this.rrValue(tx.flow, { kind: 'flow', flowId: tx.flow.id })]
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

  /** Record-Route for a request arriving on `inFlow`: the second value is ours facing the caller; the first is added per target. */
  private recordRoute(inFlow: Flow, caller: RouteTarget): (flow: Flow) => string[] {
    const callerSide = this.rrValue(inFlow, caller);
    return (flow) => [this.rrValue(flow, { kind: 'flow', flowId: flow.id }), callerSide];
  }

  /**
   * One Record-Route value: our address on flow's transport, with a token naming the peer on that side. Always two
   * values per dialog (RFC 5658 double Record-Route, also when both sides use one transport): the callee's route set
   * starts with the callee-facing one, the caller's with the caller-facing one, and the last of ours a request carries
   * names where it goes next.
   */
  private rrValue(flow: Flow, peer: RouteTarget): string {
    const l = this.local(flow);
    return '<sip:' + this.d.tokens.mint(peer) + '@' + l.uriHost + ':' + l.port + l.rrSuffix;
  }

  private local(flow: Flow): Local {
    const kind = flow.transport === 'wss' ? 'ws' : flow.transport === 'tls' ? 'tcp' : flow.transport;
    const l = this.locals.get(kind) ?? this.locals.get('udp') ?? this.locals.values().next().value;
    if (l === undefined) throw new Error('proxy used before start()');
    const pp = l.perPeer;
    if (pp === undefined) return l;
    // A TCP/WS connection knows its own local address; a UDP flow has the listener's wildcard.
    const host = localAddresses.forFlow(flow);
    let named = pp.byHost.get(host);
    if (named === undefined) {
      named = makeLocal(pp.kind, pp.viaName, host, l.port);
      pp.byHost.set(host, named);
      this.ownSentBys.add(named.sentBy);
    }
    return named;
  }

  /** The called user of a Request-URI (its host a tenant domain, or the shared domain's ext-tenant), else the To host. */
  private async calledUser(ruri: SipUri, req: SipMessage): Promise<{ tenant: Tenant; ext: string } | undefined> {
    if ((ruri.scheme !== 'sip' && ruri.scheme !== 'sips') || ruri.user === '') return undefined;
    const shared = this.d.sharedDomain;
    if (shared !== '' && ruri.host === shared.toLowerCase()) {
      const id = resolveIdentity(ruri.user, shared, shared);
      const tenant = id.tenantCode ? await this.d.accounts.getTenant(id.tenantCode) : undefined;
      return tenant === undefined ? undefined : { tenant, ext: id.ext };
    }
    let tenant = await this.d.accounts.findTenantByDomain(ruri.host);
    if (tenant === undefined) {
      // A PBX may address the edge by IP and name the tenant only in To.
      const to = parseUri(req.to.uri, 'To');
      tenant = await this.d.accounts.findTenantByDomain(to.host);
    }
    return tenant === undefined ? undefined : { tenant, ext: ruri.user };
  }

  /** The AOR's contacts as targets (§16.5): WS/TCP on their own flow, UDP at received/rport. */
  private async locate(aor: string, route: string[] | undefined, rr: ((flow: Flow) => string[]) | undefined): Promise<BranchTarget[]> {
    const set = await this.d.bindings.get(aor, this.d.clock.now());
    const out: BranchTarget[] = [];
    for (const b of set.bindings) {
      const flow = this.flowOfBinding(b);
      if (flow === undefined) continue;
      out.push({
        flow,
        requestUri: b.contact,
        route: b.path.length > 0 ? b.path : route,
        recordRoute: rr === undefined ? undefined : rr(flow),
      });
    }
    return out;
  }

  private flowOfBinding(b: Binding): Flow | undefined {
    if (b.transport === 'udp') return this.d.transport.udpFlow(b.sourceAddress, b.sourcePort);
    // A connection lives on the node that accepted it. TODO(DESIGN.md §11): reach another node's flow through it
    // (Path); today a contact held by another node is skipped (its own node forks to it when the request lands there).
    if (b.nodeId !== this.d.nodeId || b.flowId === undefined) return undefined;
    const flow = this.d.transport.getFlow(b.flowId);
    return flow !== undefined && flow.isOpen ? flow : undefined;
  }

  private flowOf(target: RouteTarget): Flow | undefined | Promise<Flow | undefined> {
    if (target.kind === 'flow') {
      const flow = this.d.transport.getFlow(target.flowId);
      return flow !== undefined && flow.isOpen ? flow : undefined;
    }
    const u = this.d.set.get(target.uri);
    return u === undefined ? undefined : this.upstreamFlow(u);
  }

  /** UDP: from the listening socket; TCP: one kept connection per upstream, reopened when closed. */
  private upstreamFlow(u: Upstream): Flow | Promise<Flow | undefined> {
    if (u.transport === 'udp') {
      let f = this.udpUpstreamFlows.get(u.uri);
      if (f === undefined) {
        f = this.d.transport.udpFlow(u.host, u.port);
        this.udpUpstreamFlows.set(u.uri, f);
      }
      return f;
    }
    const open = this.tcpUpstreamFlows.get(u.uri);
    if (open !== undefined && open.isOpen) return open;
    return this.d.transport.connectTcp(u.host, u.port).then(
      (f) => {
        this.tcpUpstreamFlows.set(u.uri, f);
        return f;
      },
      () => undefined,
    );
  }

  /**
   * How many leading Route values are ours, and the target in the last one of ours that carries a token. A value is
   * ours when its user part is a token we minted, or (a preloaded outbound-proxy Route) its host:port is ours.
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
      if (t !== undefined) {
        target = t;
        count++;
        continue;
      }
      if (at < 0 && this.isOwnUri(uri)) {
        count++;
        continue;
      }
      break;
    }
    return { count, target };
  }

  private isOwnUri(uri: string): boolean {
    try {
      const u = parseUri(uri, 'Route');
      return this.ownSentBys.has(u.host + ':' + (u.port || 5060));
    } catch {
      return false;
    }
  }

  /** §16.3 step 4: a Via of ours below the top one means the request has been here before. */
  private isLoop(req: SipMessage): boolean {
    const vias = req.vias();
    for (let i = 1; i < vias.length; i++) if (this.ownSentBys.has(vias[i]!.host + ':' + vias[i]!.port)) return true;
    return false;
  }

  private sendAck(ack: SipMessage, flow: Flow, routes: string[], count: number, target: RouteTarget): void {
    const l = this.local(flow);
    const toUpstream = target.kind === 'upstream';
    flow.send(
      forwardRequest(ack, {
        via: l.viaPrefix + newBranch(),
        route: routes.slice(count),
        requestUri: toUpstream ? this.unmask(ack.requestUri) : undefined,
        dropVias: !toUpstream && this.upstreamOf(ack) !== undefined,
      }),
    );
  }

  private remember(branch: string, tx: ProxyTx): void {
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
    if (e instanceof SipError) tx.respond(e.status, e.reason);
    else if (e instanceof StoreUnavailable) {
      this.d.logger.warn({ event: 'store.unavailable', during: 'proxy', err: e.message });
      this.reject(tx, 503, 'Service Unavailable', 'unavailable', RETRY_AFTER);
    } else {
      this.unexpected(e);
      tx.respond(500, 'Server Internal Error');
    }
  }

  private unexpected(e: unknown): void {
    this.d.logger.error({ event: 'proxy.error', err: (e as Error)?.stack ?? String(e) });
  }
}

const NO_ROUTE = { count: 0, target: undefined };
const DROP_PROXY_AUTH = ['proxy-authorization'];
const RETRY_AFTER = ['Retry-After: 5'];
/** A CANCEL's own client transaction: nothing to do with its response. */
const CANCEL_HANDLERS = { onResponse: (): void => undefined, onTimeout: (): void => undefined };

