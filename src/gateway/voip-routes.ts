// VoIP credential routes: show the settings, regenerate the VoIP password (the same rotation as `sipedge ext
// rotate`), and redeem a one-time provisioning token. QR content format: voip-settings.ts provisioningContent; the
// Linphone provisioning URL offered beside it: linphone-provisioning.ts.
import type { ExtensionRef } from '../auth/provisioning.ts';
import { notFound } from './api-error.ts';
import { issueProvisioningToken, linphoneOffer, redeemProvisioningToken } from './provisioning-tokens.ts';
import type { GatewayServices, RouteSpec } from './route-spec.ts';
import { bodies, replies } from './schemas.ts';
import { provisioningContent, qrCodes, voipSettings, type VoipSettings } from './voip-settings.ts';

/** The settings of one extension, as phones should use them (the edge as the one server). */
export async function settingsOf(g: GatewayServices, ref: ExtensionRef): Promise<VoipSettings> {
  const [e, t] = await Promise.all([g.stores.accounts.getExtension(ref.tenant, ref.ext), g.stores.accounts.getTenant(ref.tenant)]);
  if (!e || !t) throw notFound(`extension ${ref.ext}@${ref.tenant}`);
  return voipSettings(e, t, g.edgeHost(), g.sipPorts(), g.sharedDomain);
}

/**
 * What a response carries after a VoIP password was generated: the password and its provisioning QR (shown once),
 * or, with delivery "token", a provisioning token redeemable once within gateway.provisioningTokenSeconds instead.
 */
export async function deliverVoipPassword(
  g: GatewayServices,
  ref: ExtensionRef,
  password: string,
  delivery: 'response' | 'token',
): Promise<Record<string, unknown>> {
  const settings = await settingsOf(g, ref);
  if (delivery === 'token') {
    const { token, expiresAt } = await issueProvisioningToken(g, ref, password);
    return {
      settings,
      provisioningToken: token,
      provisioningTokenExpiresAt: new Date(expiresAt).toISOString(),
      provisioningUrl: `${g.cfg.publicUrl.replace(/\/+$/, '')}/provision?token=${token}`,
    };
  }
  const content = provisioningContent(settings, password);
  return {
    settings,
    voipPassword: password,
    provisioning: { content, ...(await qrCodes(content)) },
    linphone: await linphoneOffer(g, ref, password),
  };
}

export function voipRoutes(g: GatewayServices): RouteSpec[] {
  return [
    {
      method: 'GET',
      url: '/api/voip',
      operationId: 'getVoipSettings',
      summary: 'the VoIP settings of your extension: SIP username, domain/realm, the one server and its transports',
      tag: 'voip',
      auth: 'session',
      responses: { 200: replies.voipSettings, 404: 'the extension is gone (SIPEDGE_ERR_API_NOT_FOUND)' },
      handler: async (_req, _reply, c) => settingsOf(g, c.ref),
    },
    {
      method: 'POST',
      url: '/api/voip/sip-password',
      operationId: 'rotateVoipPassword',
      summary: 'regenerate your VoIP password; returned once, with its provisioning QR code',
      tag: 'voip',
      auth: 'session',
      body: bodies.sipPassword,
      responses: { 200: replies.voipPassword('the new VoIP password, its provisioning QR and a Linphone provisioning URL'), 404: 'the extension is gone (SIPEDGE_ERR_API_NOT_FOUND)' },
      async handler(req, _reply, c) {
        const { graceSeconds = 0, dropBindings = false } = req.body as { graceSeconds?: number; dropBindings?: boolean };
        const { password } = await g.provisioning.rotate(c.ref, { graceMs: graceSeconds * 1000, dropBindings });
        g.metrics.event('voip_rotated');
        g.log('gateway.voip.rotated', { user: `${c.ref.ext}@${c.ref.tenant}`, graceSeconds, dropBindings });
        return deliverVoipPassword(g, c.ref, password, 'response');
      },
    },
    {
      method: 'POST',
      url: '/api/provisioning/redeem',
      operationId: 'redeemProvisioningToken',
      summary: 'redeem a one-time provisioning token: the settings with the VoIP password and its QR code, once',
      tag: 'voip',
      auth: 'none',
      body: bodies.redeem,
      responses: {
        200: replies.voipPassword('the VoIP password, its provisioning QR and a Linphone provisioning URL'),
        400: 'the token is invalid, expired or used, or the password was changed since (SIPEDGE_ERR_API_TOKEN_INVALID)',
        429: 'too many failures from this IP (SIPEDGE_ERR_API_RATE_LIMITED, Retry-After)',
      },
      async handler(req) {
        const { ref, password } = await redeemProvisioningToken(g, req, (req.body as { token: string }).token);
        g.metrics.event('provisioning_redeemed');
        g.log('gateway.provisioning.redeemed', { user: `${ref.ext}@${ref.tenant}` });
        return deliverVoipPassword(g, ref, password, 'response');
      },
    },
  ];
}
