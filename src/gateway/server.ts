// The HTTP server on the http.listen port: /metrics (prom-client), /healthz and /readyz for now.
// The auth gateway API (gateway.ts) mounts on the same fastify instance through `mount`.
import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { parseHostPort } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';

export interface HttpServerDeps {
  listen: string;
  metrics: Metrics;
  logger: Logger;
  /** Refreshes gauges that are computed on scrape (e.g. active registrations). */
  beforeScrape?: () => Promise<void>;
  /** Whether the edge is ready to take traffic (listeners bound, store reachable). */
  isReady: () => Promise<boolean>;
  /** Trust X-Forwarded-* from a reverse proxy (config gateway.trustProxy). */
  trustProxy?: boolean;
  /** Mounts more routes (the auth gateway API, gateway.ts) on this server. */
  mount?: (app: FastifyInstance) => void;
}

export class HttpServer {
  private readonly app: FastifyInstance;

  constructor(private readonly d: HttpServerDeps) {
    // Bodies are validated as sent: no type coercion, no silently dropped fields (gateway/schemas.ts).
    this.app = Fastify({
      logger: false,
      trustProxy: d.trustProxy ?? false,
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    });
    this.app.get('/healthz', async () => ({ status: 'ok' }));
    this.app.get('/readyz', async (_req, reply) => {
      const ready = await d.isReady().catch(() => false);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
    });
    this.app.get('/metrics', async (_req, reply) => {
      if (d.beforeScrape) await d.beforeScrape().catch(() => undefined);
      const body = await d.metrics.registry.metrics();
      return reply.type(d.metrics.registry.contentType).send(body);
    });
    d.mount?.(this.app);
  }

  /** Binds http.listen ("off" = no HTTP server); returns the bound address. */
  async listen(): Promise<AddressInfo | undefined> {
    const hp = this.d.listen === 'off' ? undefined : parseHostPort(this.d.listen);
    if (!hp) return undefined;
    await this.app.listen({ host: hp.host, port: hp.port });
    const addr = this.app.server.address() as AddressInfo;
    this.d.logger.info({ event: 'http.listening', address: `${addr.address}:${addr.port}` });
    return addr;
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}
