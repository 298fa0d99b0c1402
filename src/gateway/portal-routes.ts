// Serves the portal (the single-page app src/portal/ builds into build/portal/) on the gateway's HTTP server: its
// assets under /assets/, and index.html for each page path (SPA fallback: only the listed pages, never /api/*,
// /provision/*.xml, /metrics, /healthz or /readyz). Every answer carries a Content-Security-Policy without inline
// script. The API itself is gateway.ts's; building the bundle is scripts/build-portal.mjs's.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../observability/logger.ts';

/** Where scripts/build-portal.mjs writes the bundle. */
const PORTAL_DIR = fileURLToPath(new URL('../../build/portal/', import.meta.url));

/** The app's pages (src/portal/main.tsx shows one per path): each answers index.html, and the app routes in the browser. */
export const PAGE_PATHS = ['/', '/sign-in', '/forgot-password', '/reset-password', '/provision', '/phone', '/settings', '/admin', '/music'];

/** A host name or bracketed IPv6 literal as the browser sent it; anything else is not echoed into the policy. */
const SAFE_HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])$/;

/**
 * The policy: scripts, styles and everything else only from the edge itself (no 'unsafe-inline', no eval), images
 * also as data: URLs (the QR codes), and the page's own host on any port over ws/wss (the Phone tab's SIP over
 * WebSocket listener has its own port).
 */
function contentSecurityPolicy(req: FastifyRequest): string {
  const host = SAFE_HOST.test(req.hostname) ? req.hostname : undefined;
  const sockets = host === undefined ? '' : ` ws://${host}:* wss://${host}:*`;
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self'${sockets}`,
    "media-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function secure(req: FastifyRequest, reply: FastifyReply): void {
  reply.header('content-security-policy', contentSecurityPolicy(req));
  reply.header('x-content-type-options', 'nosniff');
  // Reset and provisioning tokens travel in page URLs: never send them on as a Referer.
  reply.header('referrer-policy', 'no-referrer');
  reply.header('x-frame-options', 'DENY');
  // Microphone for the Phone tab on this origin only; nothing else.
  reply.header('permissions-policy', 'microphone=(self), camera=(), geolocation=()');
}

export interface PortalOptions {
  logger: Logger;
  /** The built app (default PORTAL_DIR). */
  dir?: string;
}

/** A fastify plugin: the portal's pages and assets. */
export async function portalRoutes(app: FastifyInstance, o: PortalOptions): Promise<void> {
  const dir = o.dir ?? PORTAL_DIR;
  const indexFile = `${dir}/index.html`;
  const built = existsSync(indexFile);
  if (!built) o.logger.warn({ event: 'portal.missing', dir, hint: 'run npm run build:portal (bash scripts/install-deps.sh does)' });
  const index = built ? readFileSync(indexFile) : undefined;
  app.addHook('onRequest', async (req, reply) => secure(req, reply));
  if (built) {
    // Loaded here, not at the top: every CLI command imports app.ts, and only a started edge serves files.
    const { default: fastifyStatic } = await import('@fastify/static');
    // schemaHide: files of the portal's bundle, not an API; left out of the OpenAPI document.
    await app.register(fastifyStatic, { root: `${dir}/assets`, prefix: '/assets/', index: false, cacheControl: true, maxAge: 0, schemaHide: true });
  }
  const page = async (_req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    if (index === undefined) {
      return reply.code(503).type('text/plain; charset=utf-8').send('The portal is not built: run "npm run build:portal" (or bash scripts/install-deps.sh).\n');
    }
    return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
  };
  // Pages of the browser app (HTML for a person, the same index.html each), not an API: hidden from the OpenAPI document.
  for (const p of PAGE_PATHS) app.get(p, { schema: { hide: true } }, page);
}
