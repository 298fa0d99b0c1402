// Linphone remote provisioning: the one-time `<gateway.publicUrl>/provision/<token>.xml` URL (offered by
// provisioning-tokens.ts linphoneOffer, with its QR code) answers, once, the linphonerc XML of one account (proxy config + auth info, the edge as outbound proxy), as Linphone
// apps read it from a scanned QR code or their "fetch remote configuration" setting ([misc] config-uri in linphonerc).
// Tokens are provisioning-tokens.ts's; the sipedge JSON format is voip-settings.ts's.
import { textReply } from './openapi.ts';
import type { GatewayServices, RouteSpec } from './route-spec.ts';
import { redeemProvisioningToken } from './provisioning-tokens.ts';
import type { VoipSettings } from './voip-settings.ts';
import { settingsOf } from './voip-routes.ts';

const xmlText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The transport Linphone should use, most robust first: TCP (no fragmentation of large INVITEs, one connection the
 * edge can call back on), else UDP. Returns [transport, host:port].
 */
function chooseTransport(s: VoipSettings): [string, string] {
  if (s.transports.tcp) return ['tcp', s.transports.tcp];
  if (s.transports.udp) return ['udp', s.transports.udp];
  throw new Error('no SIP transport for Linphone (sip.udp and sip.tcp are off)');
}

/**
 * linphonerc as XML (Linphone's lpconfig.xsd): proxy_0 registers sip:<ext>@<domain> at the edge (the registrar picks
 * the tenant by the To domain, so the tenant's domain need not resolve) and routes every request through it as
 * outbound proxy (reg_route: calls to sip:<ext>@<domain> go to the edge, not to the domain's DNS); auth_info_0 holds
 * the VoIP password for the tenant's realm.
 */
function linphoneXml(s: VoipSettings, password: string): string {
  const [transport, hostPort] = chooseTransport(s);
  const entry = (name: string, value: string): string => `    <entry name="${name}" overwrite="true">${xmlText(value)}</entry>`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<config xmlns="http://www.linphone.org/xsds/lpconfig.xsd" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"' +
      ' xsi:schemaLocation="http://www.linphone.org/xsds/lpconfig.xsd lpconfig.xsd">',
    '  <section name="sip">',
    entry('default_proxy', '0'),
    '  </section>',
    '  <section name="proxy_0">',
    entry('reg_identity', `"${s.sipUsername}" <sip:${s.sipUsername}@${s.domain}>`),
    entry('reg_proxy', `<sip:${hostPort};transport=${transport}>`),
    entry('reg_route', `<sip:${hostPort};transport=${transport};lr>`),
    entry('realm', s.realm),
    entry('reg_expires', '3600'),
    entry('reg_sendregister', '1'),
    entry('publish', '0'),
    '  </section>',
    '  <section name="auth_info_0">',
    entry('username', s.sipUsername),
    entry('userid', s.sipUsername),
    entry('passwd', password),
    entry('realm', s.realm),
    entry('domain', s.domain),
    '  </section>',
    '</config>',
    '',
  ].join('\n');
}

export function linphoneRoutes(g: GatewayServices): RouteSpec[] {
  return [
    {
      method: 'GET',
      url: '/provision/:file',
      operationId: 'getLinphoneProvisioning',
      summary: 'Linphone remote provisioning: <token>.xml answers the account as linphonerc XML, once (the token is then used)',
      tag: 'voip',
      auth: 'none',
      params: {
        type: 'object',
        properties: { file: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}\\.xml$', description: 'the provisioning token followed by .xml' } },
        required: ['file'],
        additionalProperties: false,
      },
      responses: {
        200: textReply('the account as linphonerc XML (Linphone\'s lpconfig.xsd); Cache-Control: no-store', 'text/xml'),
        400: 'the token is invalid, expired or used, or the password was changed since (SIPEDGE_ERR_API_TOKEN_INVALID)',
        429: 'too many failures from this IP (SIPEDGE_ERR_API_RATE_LIMITED, Retry-After)',
      },
      async handler(req, reply) {
        const token = (req.params as { file: string }).file.slice(0, -'.xml'.length);
        const { ref, password } = await redeemProvisioningToken(g, req, token);
        const xml = linphoneXml(await settingsOf(g, ref), password);
        g.metrics.event('provisioning_redeemed');
        g.log('gateway.provisioning.redeemed', { user: `${ref.ext}@${ref.tenant}`, format: 'linphone' });
        return reply.header('cache-control', 'no-store').type('text/xml; charset=utf-8').send(xml);
      },
    },
  ];
}
