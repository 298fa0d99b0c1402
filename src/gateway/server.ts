// The HTTP server on http.listen, and HTTPS on http.https: /metrics (prom-client), /healthz, /readyz; the auth gateway
// API (gateway.ts) mounts on the same fastify instance through `mount`, and both listeners serve that one instance.
// @fastify/swagger watches every route added here and writes the OpenAPI document from their schemas (openapi.ts).
// Plain HTTP keeps the machine paths and sends browsers to HTTPS; the certificate comes from app.ts (transport/).
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseHostPort } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { listenError } from '../errors.ts';
import { API_ERROR_SCHEMA, swaggerOptions, textReply } from './openapi.ts';

export interface HttpServerDeps {
  listen: string;
  /** /metrics on a listener of its own ('off': not served); '' or absent: on `listen` (config http.metricsListen). */
  metricsListen?: string;
  /** Bearer token /metrics wants; '' or absent: open (config http.metricsToken). */
  metricsToken?: string;
  metrics: Metrics;
  logger: Logger;
  /** Refreshes gauges that are computed on scrape (e.g. active registrations). */
  beforeScrape?: () => Promise<void>;
  /** Whether the edge is ready to take traffic (listeners bound, store serving), or why not. */
  readiness: () => Promise<{ ok: true } | { ok: false; reason: string }>;
  /** Addresses/CIDRs of the reverse proxies whose X-Forwarded-* are believed (config gateway.trustProxy). */
  trustProxy?: readonly string[];
  /** Mounts more routes (the auth gateway API, gateway.ts) on this server. */
  mount?: (app: FastifyInstance) => void;
  /** Sees the fastify instance before any route or hook is added (tests watch the routes and the replies). */
  inspect?: (app: FastifyInstance) => void;
  /** HTTPS on http.https with this certificate (app.ts passes transport/certificates.ts's source). */
  https?: { listen: string; certificate: HttpsCertificate };
}

/** The certificate the HTTPS listener serves and follows (the shape of transport/certificates.ts's CredentialSource). */
export interface HttpsCertificate {
  readonly current: { readonly cert: string; readonly key: string };
  onChange(fn: (c: { cert: string; key: string }) => void): () => void;
}

/** Paths plain HTTP keeps serving when HTTPS is on: scrapers, health checks and API scripts do not follow redirects. */
const PLAIN_PATHS = new Set(['/metrics', '/healthz', '/readyz', '/api']);
const TLS_MIN_VERSION = 'TLSv1.2';

/** True for a request plain HTTP answers itself; every other GET/HEAD (a browser opening a page) goes to HTTPS. */
function staysPlain(method: string, url: string): boolean {
  if (method !== 'GET' && method !== 'HEAD') return true;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return PLAIN_PATHS.has(path) || path.startsWith('/api/');
}

/** Binds a Node server; rejects with SIPEDGE_ERR_LISTEN naming the config key and address (EADDRINUSE & co.). */
async function bindServer(server: http.Server | https.Server, at: { host: string; port: number }, key: string, address: string): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    const refused = (e: unknown): void => reject(listenError(key, address, e));
    server.once('error', refused);
    server.listen(at.port, at.host, () => {
      server.off('error', refused);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/** Constant-time equality of two strings of any length (their SHA-256 digests are compared). */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The host a client named in Host, without its port, when it looks like a host name or IP literal. */
function requestHost(hostHeader: string | undefined): string | undefined {
  if (hostHeader === undefined) return undefined;
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d+)?$/.exec(hostHeader);
  return m === null ? undefined : m[1];
}

export class HttpServer {
  private readonly app: FastifyInstance;
  /** The HTTPS listener: a second Node server on the same fastify handler (fastify itself owns the plain one). */
  private secure: https.Server | undefined;
  private httpsPort = 0;
  private stopFollowing: (() => void) | undefined;
  /** The /metrics listener of its own (http.metricsListen), when configured. */
  private metricsServer: http.Server | undefined;

  constructor(private readonly d: HttpServerDeps) {
    // Bodies are validated as sent: no type coercion, no silently dropped fields (gateway/schemas.ts).
    this.app = Fastify({
      logger: false,
      // fastify's list form (proxy-addr): only a hop from these addresses may name the client.
      trustProxy: d.trustProxy !== undefined && d.trustProxy.length > 0 ? [...d.trustProxy] : false,
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
      serverFactory: (handler) => {
        if (d.https !== undefined) {
          const cert = d.https.certificate;
          this.secure = https.createServer({ ...cert.current, minVersion: TLS_MIN_VERSION }, handler);
          this.stopFollowing = cert.onChange((c) => this.secure?.setSecureContext({ ...c, minVersion: TLS_MIN_VERSION }));
        }
        return http.createServer(handler);
      },
    });
    d.inspect?.(this.app);
    // First, so its onRoute hook sees every route below; the routes are added in plugins, which load after it. Imported
    // when a server is made, not at the top: every CLI command imports app.ts, and only a started edge serves HTTP.
    this.app.register(import('@fastify/swagger'), swaggerOptions());
    this.app.addSchema(API_ERROR_SCHEMA);
    if (d.https !== undefined) this.app.addHook('onRequest', async (req, reply) => this.toHttps(req, reply));
    // Route latency by the route's template (a closed set: the registered routes; "unmatched" for 404s), never a path.
    const seconds = d.metrics.httpRequestSeconds;
    this.app.addHook('onResponse', async (req, reply) => {
      const route = req.routeOptions.url ?? 'unmatched';
      seconds.labels(req.method, route, `${Math.floor(reply.statusCode / 100)}xx`).observe(reply.elapsedTime / 1000);
    });
    const metricsListen = d.metricsListen ?? '';
    this.app.register(async (app) => this.opsRoutes(app, metricsListen === ''));
    if (metricsListen !== '' && metricsListen !== 'off') {
      this.metricsServer = http.createServer((req, res) => {
        const path = (req.url ?? '').split('?')[0];
        if (req.method !== 'GET' || path !== '/metrics') {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: only GET /metrics here\n');
          return;
        }
        void this.scrape(req.headers.authorization).then(({ status, headers, body }) => res.writeHead(status, headers).end(body));
      });
    }
    d.mount?.(this.app);
  }

  /** /healthz, /readyz and, when it shares http.listen, /metrics: what orchestrators and Prometheus call. */
  private opsRoutes(app: FastifyInstance, withMetrics: boolean): void {
    const status = (description: string, values: string[], extra: Record<string, unknown> = {}) => ({
      description,
      type: 'object',
      properties: { status: { type: 'string', enum: values }, ...extra },
      required: ['status'],
    });
    app.get('/healthz', {
      schema: {
        operationId: 'getHealth',
        summary: 'liveness: the process answers HTTP',
        tags: ['ops'],
        response: { 200: status('alive', ['ok']) },
      },
    }, async () => ({ status: 'ok' }));
    app.get('/readyz', {
      schema: {
        operationId: 'getReadiness',
        summary: 'readiness: the listeners are bound and the store serves',
        tags: ['ops'],
        response: {
          200: status('ready for traffic', ['ready']),
          503: status('not ready, and why', ['not ready'], { reason: { type: 'string' } }),
        },
      },
    }, async (_req, reply) => {
      const r = await this.d.readiness().catch((e: unknown) => ({ ok: false as const, reason: e instanceof Error ? e.message : String(e) }));
      return r.ok ? reply.code(200).send({ status: 'ready' }) : reply.code(503).send({ status: 'not ready', reason: r.reason });
    });
    if (!withMetrics) return;
    app.get('/metrics', {
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus exposition of the sipedge_* metrics (README "Metrics")',
        tags: ['ops'],
        security: [{ bearer: [] }, {}],
        response: {
          200: textReply('the exposition', 'text/plain'),
          401: textReply('http.metricsToken is set and the request does not carry it (WWW-Authenticate: Bearer)', 'text/plain'),
        },
      },
    }, async (req, reply) => {
      const { status: code, headers, body } = await this.scrape(req.headers.authorization);
      return reply.code(code).headers(headers).send(body);
    });
  }

  /**
   * /metrics' answer: 401 with `WWW-Authenticate: Bearer` unless the request carries http.metricsToken (compared in
   * constant time), else the exposition after the scrape-time gauges are refreshed.
   */
  private async scrape(authorization: string | undefined): Promise<{ status: 200 | 401; headers: Record<string, string>; body: string }> {
    const token = this.d.metricsToken ?? '';
    if (token !== '' && !sameSecret(authorization ?? '', `Bearer ${token}`)) {
      return { status: 401, headers: { 'www-authenticate': 'Bearer realm="metrics"', 'content-type': 'text/plain' }, body: 'metrics need a bearer token (http.metricsToken)\n' };
    }
    if (this.d.beforeScrape) await this.d.beforeScrape().catch(() => undefined);
    return { status: 200, headers: { 'content-type': this.d.metrics.registry.contentType }, body: await this.d.metrics.registry.metrics() };
  }

  /** Binds http.listen, http.https and http.metricsListen ("off" = not that one); returns the bound addresses. */
  async listen(): Promise<{ http?: AddressInfo; https?: AddressInfo; metrics?: AddressInfo }> {
    const out: { http?: AddressInfo; https?: AddressInfo; metrics?: AddressInfo } = {};
    const mp = this.metricsServer === undefined ? undefined : parseHostPort(this.d.metricsListen!);
    if (mp && this.metricsServer) out.metrics = await bindServer(this.metricsServer, mp, 'http.metricsListen', this.d.metricsListen!);
    const hp = this.d.listen === 'off' ? undefined : parseHostPort(this.d.listen);
    const sp = this.d.https === undefined || this.d.https.listen === 'off' ? undefined : parseHostPort(this.d.https.listen);
    await this.app.ready();
    if (sp && this.secure) {
      const secure = this.secure;
      out.https = await bindServer(secure, sp, 'http.https', this.d.https!.listen);
      secure.on('error', (err: NodeJS.ErrnoException) => this.d.logger.warn({ event: 'http.https.error', code: err.code }));
      this.httpsPort = out.https.port;
    }
    if (hp) {
      await this.app.listen({ host: hp.host, port: hp.port }).catch((e: unknown) => {
        throw listenError('http.listen', this.d.listen, e);
      });
      out.http = this.app.server.address() as AddressInfo;
    }
    const show = (a?: AddressInfo) => a && `${a.address}:${a.port}`;
    this.d.logger.info({ event: 'http.listening', address: show(out.http), https: show(out.https), metrics: show(out.metrics) });
    return out;
  }

  async close(): Promise<void> {
    this.stopFollowing?.();
    const metrics = this.metricsServer;
    if (metrics?.listening) {
      const closed = new Promise((resolve) => metrics.close(resolve));
      metrics.closeAllConnections();
      await closed;
    }
    const secure = this.secure;
    if (secure?.listening) {
      const closed = new Promise((resolve) => secure.close(resolve));
      secure.closeAllConnections();
      await closed;
    }
    await this.app.close();
  }

  /**
   * Plain HTTP with HTTPS on: a browser's GET of a page is sent to the same host on the HTTPS port (302, not cached,
   * so turning http.https off later strands nobody). Scrapers, health checks and the API stay on plain HTTP.
   */
  private async toHttps(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (req.protocol === 'https' || this.httpsPort === 0 || staysPlain(req.method, req.url)) return;
    const host = requestHost(req.headers.host) ?? (req.raw.socket.localAddress?.includes(':') ? `[${req.raw.socket.localAddress}]` : req.raw.socket.localAddress);
    const port = this.httpsPort === 443 ? '' : `:${this.httpsPort}`;
    await reply.redirect(`https://${host}${port}${req.url}`, 302);
  }
}
