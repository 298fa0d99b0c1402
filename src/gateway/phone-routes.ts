// The portal's Phone tab credentials: GET /api/voip/webrtc gives the signed-in user what SIP.js needs to register
// their own extension from the page (username, realm, AOR, the ws/wss URL, and the MD5 HA1 as SIP.js's
// authorizationHa1: the VoIP password itself is stored only as HA1s, RFC 3261 §22.4 / RFC 8760). Never cached or
// logged (logger.ts redacts authorizationHa1). Rotating the VoIP password voids the HA1 the page holds.
import type { FastifyRequest } from 'fastify';
import { notFound } from './api-error.ts';
import type { GatewayServices, RouteSpec } from './route-spec.ts';
import { replies } from './schemas.ts';
import { settingsOf } from './voip-routes.ts';
import type { VoipSettings } from './voip-settings.ts';

/** A host name or bracketed IPv6 literal as the browser sent it; anything else is not echoed into a URL. */
const SAFE_HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])$/;

/**
 * The WebSocket URL a browser on this page should register over: wss when the page came over TLS and the edge has a
 * wss listener, else ws; on the host name the browser used for the page (its certificate names that one), at the
 * listener's port. undefined when SIP over WebSocket is off.
 */
function browserWsUrl(req: FastifyRequest, transports: VoipSettings['transports']): string | undefined {
  const t = transports as Record<string, string | undefined>;
  const chosen = req.protocol === 'https' ? (t.wss ?? t.ws) : (t.ws ?? t.wss);
  if (chosen === undefined) return undefined;
  const url = new URL(chosen);
  if (SAFE_HOST.test(req.hostname)) url.hostname = req.hostname;
  return url.toString().replace(/\/$/, '');
}

export function phoneRoutes(g: GatewayServices): RouteSpec[] {
  return [
    {
      method: 'GET',
      url: '/api/voip/webrtc',
      operationId: 'getWebrtcCredentials',
      summary: 'credentials for the portal\'s browser phone: username, realm, AOR, ws/wss URL and the MD5 HA1 (not cached)',
      tag: 'voip',
      auth: 'session',
      responses: { 200: replies.webrtc, 404: 'the extension is gone (SIPEDGE_ERR_API_NOT_FOUND)' },
      async handler(req, reply, c) {
        const ref = c.ref;
        const [e, settings] = await Promise.all([g.stores.accounts.getExtension(ref.tenant, ref.ext), settingsOf(g, ref)]);
        if (!e) throw notFound(`extension ${ref.ext}@${ref.tenant}`);
        reply.header('cache-control', 'no-store');
        return {
          username: settings.sipUsername,
          realm: settings.realm,
          aor: `sip:${settings.sipUsername}@${settings.domain}`,
          displayName: settings.sipUsername,
          wsUrl: browserWsUrl(req, settings.transports) ?? null,
          authorizationHa1: e.cred.md5,
        };
      },
    },
  ];
}
