// Wiring: config -> stores -> services -> listeners, and the request dispatch table (which service gets a request).
// `sipedge start` and every integration test start the edge through createApp(); nothing else wires layers.
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { monotonicClock, systemClock, type Clock } from './clock.ts';
import type { Config } from './config/schema.ts';
import { SipedgeError } from './errors.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { Metrics } from './observability/metrics.ts';
import { releaseMemory, toMb } from './observability/heap.ts';
import { openStores } from './store/open.ts';
import { securePrivateFiles } from './store/private-files.ts';
import { chain, type MaybePromise } from './store/maybe-promise.ts';
import type { Stores } from './store/types.ts';
import { DigestAuthenticator, type Verdict } from './auth/authenticator.ts';
import { Identities } from './auth/identity.ts';
import { resolveNonceSecret } from './auth/nonce.ts';
import { Registrar, type RegisterReads } from './registrar/registrar.ts';
import { TransportLayer } from './transport/transport-layer.ts';
import { FloodGuard } from './transport/flood-guard.ts';
import { errorResponse } from './transaction/error-response.ts';
import { TransactionLayer } from './transaction/transaction-layer.ts';
import type { LocalService, ServerTransaction, TransactionUser } from './transaction/types.ts';
import type { SipMessage } from './sip/types.ts';
import { Proxy } from './proxy/proxy.ts';
import { RouteTokens } from './proxy/route-token.ts';
import { NodeHops } from './proxy/node-hop.ts';
import { NodeRegistry, type NodeIdentity } from './registrar/node-registry.ts';
import { UpstreamChooser } from './proxy/upstream-chooser.ts';
import { UpstreamFlows } from './proxy/upstream-flows.ts';
import { probeTransportOf, UpstreamSet } from './proxy/upstream-set.ts';
import { UserAdmission } from './proxy/user-admission.ts';
import { MediaAnchor } from './proxy/media-anchor.ts';
import { MediaRelay } from './relay/media-relay.ts';
import { RtpengineSet } from './relay/rtpengine-set.ts';
import type { Flow, TransportHandler } from './transport/flow.ts';
import { HttpServer } from './gateway/server.ts';
import { Gateway } from './gateway/gateway.ts';
import { resolveGatewayKey } from './auth/secret-box.ts';
import { decodeKey } from './config/schema.ts';
import { mohRoutes, tokenOrSessionAuthorize } from './gateway/moh-routes.ts';
import { portalRoutes } from './gateway/portal-routes.ts';
import { DEFAULT_MOH_FILE, HoldCache } from './media/hold-cache.ts';
import { MohService } from './media/moh-service.ts';
import { ConversionPool } from './media/conversion-pool.ts';
import { MediaLibrary } from './media/library.ts';
import { transcodeInWorker } from './media/transcode-worker.ts';
import { isWildcard, localAddresses, splitHostPort } from './transport/local-address.ts';
import { Certificates, loadUpstreamCa, selfSignedNames } from './transport/certificates.ts';

export interface AppOptions {
  logger?: Logger;
  clock?: Clock;
  metrics?: Metrics;
  nodeId?: string;
  /** Runs one hold-music conversion; default transcodeInWorker (a test may wrap it to hold conversions where it wants). */
  transcoder?: typeof transcodeInWorker;
  /** Sees the HTTP server's fastify instance before any route is added (tests watch its routes and replies). */
  inspectHttp?: (app: FastifyInstance) => void;
}

export interface AppAddresses {
  udp?: AddressInfo;
  tcp?: AddressInfo;
  tls?: AddressInfo;
  ws?: AddressInfo;
  wss?: AddressInfo;
  http?: AddressInfo;
  https?: AddressInfo;
  /** /metrics on its own listener (http.metricsListen). */
  metrics?: AddressInfo;
  /** The internal hop's own listener (cluster.listen). */
  hop?: AddressInfo;
}

/** Methods this edge handles (REGISTER and OPTIONS to itself; the rest it proxies, DESIGN.md §7). */
const ALLOW = 'REGISTER, OPTIONS, INVITE, ACK, CANCEL, BYE, MESSAGE, NOTIFY, SUBSCRIBE, REFER, INFO, UPDATE, PRACK';
/** How long stop() waits for in-flight requests to finish before closing the store; ms. */
const DRAIN_MS = 5000;

/** The request dispatch table: one TransactionUser in front of the services. */
class Dispatcher implements TransactionUser {
  inflight = 0;
  private drained: (() => void) | undefined;
  /** Set once the transaction layer (which the proxy sends through) exists. */
  proxy!: Proxy;

  constructor(
    private readonly auth: DigestAuthenticator,
    private readonly flood: FloodGuard,
    private readonly registrar: Registrar,
    readonly logger: Logger,
    readonly metrics: Metrics,
    /** UAS services on the edge (hold music), asked before the proxy. */
    private readonly services: readonly LocalService[],
  ) {}

  onRequest(tx: ServerTransaction): void {
    this.inflight++;
    let pending: MaybePromise<void> = undefined;
    try {
      pending = this.route(tx);
    } catch (e) {
      this.failed(tx, e);
    }
    // A REGISTER on the embedded store is answered by now: no promise was made for it.
    if (pending instanceof Promise) pending.catch((e: unknown) => this.failed(tx, e)).finally(() => this.settled());
    else this.settled();
  }

  private failed(tx: ServerTransaction, e: unknown): void {
    const { answer } = errorResponse(e, this, 'dispatch');
    if (!tx.isCompleted) tx.respond(answer.status, answer.reason, { headers: answer.headers });
  }

  private settled(): void {
    if (--this.inflight === 0 && this.drained) this.drained();
  }

  private route(tx: ServerTransaction): MaybePromise<void> {
    const req = tx.request;
    // A REGISTER's store reads leave together with the ban check's (one Redis round trip; Registrar.readAhead).
    const reads = req.method === 'REGISTER' ? this.registrar.readAhead(tx) : undefined;
    // Scanners and banned sources are dropped before any work (DESIGN.md §5).
    return chain(this.auth.precheck(req.source!.address, req.userAgent), (verdict) => this.routeChecked(tx, verdict, reads));
  }

  private routeChecked(tx: ServerTransaction, verdict: Verdict, reads: RegisterReads | undefined): MaybePromise<void> {
    if (verdict !== 'ok') {
      // From now on the source's messages are dropped before parsing (flood.banSeconds), not after.
      this.flood.ban(tx.request.source!.address, verdict === 'scanner' ? 'scanner' : 'auth');
      tx.drop();
      return;
    }
    if (tx.request.method === 'REGISTER') return this.registrar.process(tx, reads);
    return this.routeOther(tx);
  }

  private async routeOther(tx: ServerTransaction): Promise<void> {
    const req = tx.request;
    // Local services first: their own dialogs directly, new requests after the proxy's admission.
    for (const svc of this.services) {
      if (!svc.owns(req)) continue;
      if (svc.inDialog(req) || (await this.proxy.admit(tx))) svc.onRequest(tx);
      return;
    }
    if (req.method === 'CANCEL') {
      this.proxy.onCancel(tx);
      return;
    }
    // RFC 3261 §16.3 step 3: an OPTIONS with Max-Forwards 0 may be answered by the proxy as its final recipient.
    if (req.method === 'OPTIONS' && (isForEdge(req) || req.maxForwards === 0)) {
      tx.respond(200, 'OK', {
        headers: [`Allow: ${ALLOW}`, 'Accept: application/sdp', 'Supported: path, outbound'],
      });
      return;
    }
    await this.proxy.onRequest(tx);
  }

  onStrayAck(ack: SipMessage, flow: Flow): void {
    for (const svc of this.services) if (svc.onAck?.(ack, flow) === true) return;
    this.proxy.onStrayAck(ack);
  }

  onStrayResponse(res: SipMessage): void {
    this.proxy.onStrayResponse(res);
  }

  onFlowClosed(flow: Flow): void {
    this.registrar.onFlowClosed(flow);
  }

  /** Resolves when no request is in flight (or after `ms`). */
  drain(ms: number): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.drained = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}

/** An OPTIONS the edge answers itself: addressed to no user (a keep-alive or a PBX's probe of the edge). */
function isForEdge(req: SipMessage): boolean {
  try {
    return req.ruri.user === '' && !req.has('route');
  } catch {
    return true;
  }
}

/** Where other nodes reach this one's internal hop by default: cluster.listen's listener, else its SIP TCP listener ('' when neither). */
function hopAddress(bound: AppAddresses): string {
  const hop = bound.hop ?? bound.tcp;
  if (hop === undefined) return '';
  const host = isWildcard(hop.address) ? localAddresses.for(undefined, hop.address) : hop.address;
  return (host.includes(':') ? `[${host}]` : host) + ':' + hop.port;
}

export interface App {
  readonly config: Readonly<Config>;
  readonly stores: Stores;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Hold-music uploads and status (the CLI and /api/moh use the same library). */
  readonly media: MediaLibrary;
  /** The transaction layer's entry point, for feeding bytes without sockets (benchmarks). */
  readonly transactions: TransportHandler;
  /** Bound addresses; filled by start(). */
  readonly addresses: AppAddresses;
  /** The auth gateway's services (HTTP API on http.listen). */
  readonly gateway: Gateway;
  /** The configured upstreams and their health (probes run from start() to stop()). */
  readonly upstreams: UpstreamSet;
  readonly proxy: Proxy;
  /** This node's heartbeat and view of the other nodes. */
  readonly nodes: NodeRegistry;
  /** This node's id and internal hop address (README "Many nodes"). */
  readonly node: NodeIdentity;
  /** The certificate of sip.tls, sip.wss and http.https; undefined when all three are off. */
  readonly certificates: Certificates | undefined;
  /** The hold-music service (a test on a fake clock drives its scheduler). */
  readonly holdMusic: MohService;
  /** The configured rtpengines and their health (pings run from start() to stop()). */
  readonly rtpengines: RtpengineSet;
  /** The calls anchored through rtpengine. */
  readonly relay: MediaRelay;
  /** Per-source budgets and bans before parsing (a test sweeps it to see its memory given back). */
  readonly flood: FloodGuard;
  start(): Promise<AppAddresses>;
  /** Stops accepting, lets in-flight requests finish, closes the store. */
  stop(): Promise<void>;
}

/**
 * The certificate of the TLS listeners, when any is on: tls.certFile/keyFile, or the self-signed default naming
 * sip.advertisedHost, the TLS listen addresses (every local address for a wildcard) and localhost.
 */
async function openCertificates(config: Readonly<Config>, logger: Logger, metrics: Metrics): Promise<Certificates | undefined> {
  const listens = [config.sip.tls, config.sip.wss, config.http.https].filter((l) => l !== 'off');
  if (listens.length === 0) return undefined;
  const advertised = splitHostPort(config.sip.advertisedHost).host;
  const hosts = listens.map((l) => splitHostPort(l).host);
  const addresses = hosts.some((h) => isWildcard(h)) ? [...hosts, ...localAddresses.all()] : hosts;
  return await Certificates.open({
    tls: config.tls,
    dataDir: config.dataDir,
    names: selfSignedNames(advertised, addresses),
    mustCover: advertised || 'localhost',
    logger,
    metrics,
  });
}

export async function createApp(config: Readonly<Config>, opts: AppOptions = {}): Promise<App> {
  const logger = opts.logger ?? createLogger(config.log.level);
  const clock = opts.clock ?? systemClock;
  const metrics = opts.metrics ?? new Metrics({ defaultMetrics: true });
  const nodeId = opts.nodeId ?? randomUUID();
  // The data dir holds HA1s, the nonce secret and the gateway key (README "Data directory"): private before anything.
  const loosened = securePrivateFiles(config.dataDir);
  if (loosened.length > 0) {
    logger.warn({ event: 'data.modes.fixed', dataDir: config.dataDir, count: loosened.length, paths: loosened.slice(0, 20) });
  }
  const node: NodeIdentity = { id: nodeId, address: '' };
  // Certificates first: a bad certificate file stops the start before the store is opened (and locked).
  const certificates = await openCertificates(config, logger, metrics);
  const upstreamCa = await loadUpstreamCa(config.tls.upstreamCaFile);
  const stores = await openStores(config, { role: 'edge', clock, logger, metrics });
  const nonceSecret = await resolveNonceSecret(config.auth.nonceSecret, stores.meta);
  const flood = new FloodGuard({ config: config.flood, metrics, provenMs: config.auth.lockout.trustSeconds * 1000 });
  const auth = new DigestAuthenticator({
    config: config.auth,
    stores: { accounts: stores.accounts, lockouts: stores.lockouts, nonces: stores.nonces, proven: stores.proven },
    clock,
    metrics,
    logger,
    nonceSecret,
    onProven: (source) => flood.markProven(source.address),
  });
  const identities = new Identities(stores.accounts, config.auth.sharedDomain);
  const registrar = new Registrar({
    config: config.registrar,
    identities,
    bindings: stores.bindings,
    auth,
    clock,
    metrics,
    logger,
    node,
  });
  const addresses: AppAddresses = {};
  // The media relays (rtpengine) and the anchored calls; the proxy and the hold music both anchor through them.
  const rtpengines = new RtpengineSet({ rtpengines: config.media.rtpengine, probe: config.media.rtpengineProbe, clock, logger, metrics });
  const relay = new MediaRelay({ set: rtpengines, mode: config.media.anchoring, clock, logger });
  const holdCache = new HoldCache({ store: stores.media, logger, defaultFile: DEFAULT_MOH_FILE.pathname });
  // RTP is paced on a monotonic clock (a wall-clock step would stall or burst the streams), unless a test brings its own.
  const moh = new MohService({
    config: config.media,
    serverName: config.sip.serverName,
    advertisedHost: config.sip.advertisedHost,
    identify: (user, host) => identities.of(user, host),
    cache: holdCache,
    clock: opts.clock ?? monotonicClock,
    logger,
    metrics,
    relay,
  });
  const showConversions = (running: number, queued: number): void => {
    metrics.mohConversions.labels('running').set(running);
    metrics.mohConversions.labels('queued').set(queued);
  };
  showConversions(0, 0);
  const conversions = new ConversionPool(config.media.conversions || availableParallelism(), config.media.conversionQueue, showConversions);
  const media = new MediaLibrary({
    config: config.media,
    media: stores.media,
    accounts: stores.accounts,
    clock,
    logger,
    metrics,
    transcoder: opts.transcoder ?? transcodeInWorker,
    pool: conversions,
  });
  const localServices: LocalService[] = [moh];
  const dispatcher = new Dispatcher(auth, flood, registrar, logger, metrics, localServices);
  const transactions = new TransactionLayer({ tu: dispatcher, metrics, logger, clock, serverHeader: config.sip.serverName });
  const transport = new TransportLayer({
    sip: config.sip,
    handler: transactions,
    metrics,
    logger,
    certificates,
    tlsClient: { ca: upstreamCa, verify: config.tls.verifyUpstreams },
    flood,
    hopListen: config.cluster.listen,
  });
  const upstreamFlows = new UpstreamFlows(transport, logger);
  const nodes = new NodeRegistry({
    config: config.cluster,
    nodes: stores.nodes,
    bindings: stores.bindings,
    node,
    view: () => ({
      connections: transport.connectionCount,
      upstreams: Object.fromEntries(upstreamSet.all().map((u) => [u.uri, upstreamSet.stateOf(u.uri) ?? 'unknown'])),
    }),
    clock,
    logger,
    metrics,
  });
  // Upstreams and the other live nodes (the internal hop) have the larger budget from their first message on.
  flood.isUpstream = (address) => upstreamFlows.from(address) !== undefined || nodes.isNodeHost(address);
  // An operator's unban (sipedge unban, on any node) lifts this node's flood-guard ban too.
  stores.lockouts.onUnban((source) => {
    flood.unban(source);
    logger.info({ event: 'source.unbanned', source });
  });
  // Once a flood is over, the heap it grew is given back (one collection; the memory reducer is off, see heap.ts).
  flood.afterAttack = () => {
    const rss = process.memoryUsage.rss();
    const heap = releaseMemory();
    logger.info({ event: 'flood.ended', gcMs: heap.ms, heapMbBefore: toMb(heap.before), heapMbAfter: toMb(heap.after), rssMbBefore: toMb(rss), rssMbAfter: toMb(process.memoryUsage.rss()) });
  };
  const upstreamSet = new UpstreamSet({
    upstreams: config.upstreams,
    probe: config.proxy.probe,
    transport: probeTransportOf(transactions.clients, upstreamFlows),
    clock,
    logger,
    metrics,
    advertisedHost: config.sip.advertisedHost || undefined,
    userAgent: config.sip.serverName,
  });
  const proxy = new Proxy({
    config: config.proxy,
    advertisedHost: config.sip.advertisedHost,
    set: upstreamSet,
    upstreams: upstreamFlows,
    chooser: new UpstreamChooser({
      set: upstreamSet,
      store: stores.upstreamChoices,
      clock,
      logger,
      moveBackMs: config.proxy.moveBackAfterSeconds * 1000,
      moves: metrics.upstreamMoves,
    }),
    admission: new UserAdmission({ auth, identities, bindings: stores.bindings, config: config.proxy, clock, nodeId }),
    identities,
    bindings: stores.bindings,
    clients: transactions.clients,
    matchInvite: (cancel) => transactions.matchInvite(cancel),
    transport,
    tokens: new RouteTokens(nonceSecret, nodeId),
    hops: new NodeHops(nonceSecret, nodeId, clock, (host, port) => transport.connectTcp(host, port), logger),
    nodes,
    anchor: new MediaAnchor(relay, logger, metrics),
    clock,
    logger,
    metrics,
    nodeId,
  });
  dispatcher.proxy = proxy;
  let listening = false;
  const gateway = new Gateway({
    config,
    stores,
    clock,
    logger,
    metrics,
    key: await resolveGatewayKey(config.gateway.encryptionKey === '' ? undefined : decodeKey(config.gateway.encryptionKey), stores.meta),
    sipPorts: () => ({
      udp: addresses.udp?.port,
      tcp: addresses.tcp?.port,
      tls: addresses.tls?.port,
      ws: addresses.ws?.port,
      wss: addresses.wss?.port,
    }),
    wildcardHost: () => localAddresses.for(undefined, '0.0.0.0'),
  });
  const mohAuthorize = tokenOrSessionAuthorize(config.media.apiToken, (req, reply) => gateway.principalOf(req, reply));
  const http = new HttpServer({
    trustProxy: config.gateway.trustProxy,
    // Hold-music routes live in the gateway's scope: its session cookies, CSRF rule and error handler apply to them.
    mount: (app) => {
      gateway.register(app, (scope) => mohRoutes(scope, { library: media, authorize: mohAuthorize }));
      app.register(portalRoutes, { logger });
    },
    inspect: opts.inspectHttp,
    listen: config.http.listen,
    metricsListen: config.http.metricsListen,
    metricsToken: config.http.metricsToken,
    https: certificates !== undefined && config.http.https !== 'off' ? { listen: config.http.https, certificate: certificates } : undefined,
    metrics,
    logger,
    beforeScrape: async () => {
      // Wall time, not the injected clock: peers judge the certificate by theirs.
      if (certificates !== undefined) metrics.tlsCertificateExpiry.labels(certificates.source).set(certificates.expirySeconds(Date.now()));
      metrics.registrationsActive.set(await stores.bindings.countActive(clock.now()));
      metrics.floodSources.set(flood.size);
      metrics.anchoredCalls.set(relay.size);
    },
    readiness: async () => {
      if (!listening) return { ok: false, reason: 'not listening yet' };
      return stores.status();
    },
  });
  let stopped = false;

  return {
    config,
    stores,
    metrics,
    logger,
    media,
    transactions,
    addresses,
    gateway,
    upstreams: upstreamSet,
    proxy,
    nodes,
    node,
    certificates,
    holdMusic: moh,
    rtpengines,
    relay,
    flood,
    async start() {
      try {
        await holdCache.start();
        Object.assign(addresses, await transport.listen());
        await proxy.start(addresses);
        node.address = config.cluster.address || hopAddress(addresses);
        Object.assign(addresses, await http.listen());
      } catch (e) {
        await transport.close().catch(() => undefined);
        await http.close().catch(() => undefined);
        await stores.close().catch(() => undefined);
        if (e instanceof SipedgeError) throw e;
        const err = e as NodeJS.ErrnoException;
        throw new SipedgeError('SIPEDGE_ERR_LISTEN', `cannot listen: ${err.code ?? ''} ${err.message}`.trim());
      }
      listening = true;
      certificates?.watch();
      flood.start();
      upstreamSet.start();
      await rtpengines.start();
      relay.start();
      nodes.start();
      logger.info({
        event: 'edge.started',
        // The runtime that runs the edge (README "Runtime": Node 24 LTS from scripts/start.sh).
        node: process.version,
        nodeId,
        address: node.address,
        store: config.store,
        upstreams: config.upstreams.length,
        rtpengines: config.media.rtpengine.length,
        anchoring: config.media.anchoring,
      });
      return addresses;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      listening = false;
      logger.info({ event: 'edge.stopping' });
      upstreamSet.stop();
      flood.stop();
      await transport.close();
      await nodes.stop();
      await dispatcher.drain(DRAIN_MS);
      moh.close();
      holdCache.stop();
      transactions.close();
      proxy.close();
      relay.close();
      rtpengines.stop();
      await http.close();
      await gateway.idle();
      gateway.close();
      certificates?.close();
      await stores.close();
      logger.info({ event: 'edge.stopped' });
    },
  };
}
