// Wiring: config -> stores -> services -> listeners, and the request dispatch table (which service gets a request).
// `sipedge start` and every integration test start the edge through createApp(); nothing else wires layers.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from './clock.ts';
import type { Config } from './config/schema.ts';
import { SipedgeError } from './config/errors.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { Metrics } from './observability/metrics.ts';
import { openStores } from './store/open.ts';
import type { Stores } from './store/types.ts';
import { DigestAuthenticator } from './auth/authenticator.ts';
import { resolveNonceSecret } from './auth/nonce.ts';
import { Registrar } from './registrar/registrar.ts';
import { TransportLayer } from './transport/transport-layer.ts';
import { TransactionLayer } from './transaction/transaction-layer.ts';
import type { LocalService, ServerTransaction, TransactionUser } from './transaction/types.ts';
import type { Flow, TransportHandler } from './transport/flow.ts';
import { HttpServer } from './gateway/server.ts';
import { Gateway } from './gateway/gateway.ts';
import { resolveGatewayKey } from './auth/secret-box.ts';
import { decodeKey } from './config/schema.ts';
import { bearerTokenAuthorize } from './gateway/moh-routes.ts';
import { DEFAULT_MOH_FILE, HoldCache } from './media/hold-cache.ts';
import { MohService } from './media/moh-service.ts';
import { MediaLibrary } from './media/library.ts';
import { transcodeInWorker } from './media/transcode-worker.ts';
import type { SipMessage } from './sip/types.ts';

export interface AppOptions {
  logger?: Logger;
  clock?: Clock;
  metrics?: Metrics;
  nodeId?: string;
}

export interface AppAddresses {
  udp?: AddressInfo;
  tcp?: AddressInfo;
  ws?: AddressInfo;
  http?: AddressInfo;
}

/** Methods this edge answers itself today; the proxy (issue 3) will take the rest. */
const ALLOW = 'REGISTER, OPTIONS, ACK, CANCEL, BYE';
/** How long stop() waits for in-flight requests to finish before closing the store; ms. */
const DRAIN_MS = 5000;

/** The request dispatch table: one TransactionUser in front of the services. */
class Dispatcher implements TransactionUser {
  inflight = 0;
  private drained: (() => void) | undefined;

  constructor(
    private readonly auth: DigestAuthenticator,
    private readonly registrar: Registrar,
    private readonly logger: Logger,
    /** UAS services on the edge (hold music), asked before the method switch. */
    private readonly local: readonly LocalService[] = [],
  ) {}

  onRequest(tx: ServerTransaction): void {
    this.inflight++;
    this.route(tx)
      .catch((e: unknown) => {
        this.logger.error({ event: 'dispatch.error', err: (e as Error)?.stack ?? String(e) });
        if (!tx.isCompleted) tx.respond(500, 'Server Internal Error');
      })
      .finally(() => {
        if (--this.inflight === 0 && this.drained) this.drained();
      });
  }

  private async route(tx: ServerTransaction): Promise<void> {
    const req = tx.request;
    // Scanners and banned sources are dropped before any work (DESIGN.md §5).
    const verdict = await this.auth.precheck(req.source!.address, req.userAgent);
    if (verdict !== 'ok') {
      tx.drop();
      return;
    }
    // TODO(lead, merge): out-of-dialog requests to a local service go through the proxy's admission (upstream
    // source or authenticated user) before onRequest; in-dialog ones (service.inDialog) go straight through.
    for (const service of this.local) {
      if (service.owns(req)) {
        service.onRequest(tx);
        return;
      }
    }
    switch (req.method) {
      case 'REGISTER':
        await this.registrar.process(tx);
        return;
      case 'OPTIONS':
        tx.respond(200, 'OK', {
          headers: [`Allow: ${ALLOW}`, 'Accept: application/sdp', 'Supported: path, outbound'],
        });
        return;
      case 'CANCEL':
      case 'BYE':
        // No dialogs or pending INVITEs live here yet (the proxy is issue 3).
        tx.respond(481, 'Call/Transaction Does Not Exist');
        return;
      default:
        tx.respond(405, 'Method Not Allowed', { headers: [`Allow: ${ALLOW}`] });
    }
  }

  onFlowClosed(flow: Flow): void {
    this.registrar.onFlowClosed(flow);
  }

  onStrayAck(ack: SipMessage, flow: Flow): void {
    for (const service of this.local) if (service.onAck?.(ack, flow)) return;
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
  start(): Promise<AppAddresses>;
  /** Stops accepting, lets in-flight requests finish, closes the store. */
  stop(): Promise<void>;
}

export async function createApp(config: Readonly<Config>, opts: AppOptions = {}): Promise<App> {
  const logger = opts.logger ?? createLogger(config.log.level);
  const clock = opts.clock ?? systemClock;
  const metrics = opts.metrics ?? new Metrics({ defaultMetrics: true });
  const nodeId = opts.nodeId ?? randomUUID();
  const stores = await openStores(config, { role: 'edge', clock });
  const nonceSecret = await resolveNonceSecret(config.auth.nonceSecret, stores.meta);
  const auth = new DigestAuthenticator({
    config: config.auth,
    stores: { accounts: stores.accounts, lockouts: stores.lockouts, nonces: stores.nonces },
    clock,
    metrics,
    logger,
    nonceSecret,
  });
  const registrar = new Registrar({
    config: config.registrar,
    sharedDomain: config.auth.sharedDomain,
    accounts: stores.accounts,
    bindings: stores.bindings,
    auth,
    clock,
    metrics,
    logger,
    nodeId,
  });
  const addresses: AppAddresses = {};
  const holdCache = new HoldCache({ store: stores.media, logger, defaultFile: DEFAULT_MOH_FILE.pathname });
  const moh = new MohService({ config: config.media, serverName: config.sip.serverName, accounts: stores.accounts, cache: holdCache, logger, metrics });
  const media = new MediaLibrary({ config: config.media, media: stores.media, accounts: stores.accounts, clock, logger, metrics, transcoder: transcodeInWorker });
  const dispatcher = new Dispatcher(auth, registrar, logger, [moh]);
  const transactions = new TransactionLayer({ tu: dispatcher, metrics, logger, clock, serverHeader: config.sip.serverName });
  const transport = new TransportLayer({ sip: config.sip, handler: transactions, metrics, logger });
  let listening = false;
  const gateway = new Gateway({
    config,
    stores,
    clock,
    logger,
    metrics,
    key: await resolveGatewayKey(config.gateway.encryptionKey === '' ? undefined : decodeKey(config.gateway.encryptionKey), stores.meta),
    sipPorts: () => ({ udp: addresses.udp?.port, tcp: addresses.tcp?.port, ws: addresses.ws?.port }),
  });
  const http = new HttpServer({
    trustProxy: config.gateway.trustProxy,
    mount: (app) => gateway.register(app),
    listen: config.http.listen,
    metrics,
    logger,
    beforeScrape: async () => metrics.registrationsActive.set(await stores.bindings.countActive(clock.now())),
    isReady: async () => listening,
    moh: { library: media, authorize: bearerTokenAuthorize(config.media.apiToken) },
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
    async start() {
      try {
        await holdCache.start();
        Object.assign(addresses, await transport.listen());
        const h = await http.listen();
        if (h) addresses.http = h;
      } catch (e) {
        await transport.close().catch(() => undefined);
        await http.close().catch(() => undefined);
        await stores.close().catch(() => undefined);
        const err = e as NodeJS.ErrnoException;
        throw new SipedgeError('SIPEDGE_ERR_LISTEN', `cannot listen: ${err.code ?? ''} ${err.message}`.trim());
      }
      listening = true;
      logger.info({ event: 'edge.started', nodeId, store: config.store });
      return addresses;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      listening = false;
      logger.info({ event: 'edge.stopping' });
      await transport.close();
      await dispatcher.drain(DRAIN_MS);
      moh.close();
      holdCache.stop();
      transactions.close();
      await http.close();
      await gateway.idle();
      gateway.close();
      await stores.close();
      logger.info({ event: 'edge.stopped' });
    },
  };
}
