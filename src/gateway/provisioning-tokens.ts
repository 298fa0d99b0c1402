// One-time provisioning tokens: a VoIP password waiting, sealed (AES-256-GCM), under the SHA-256 of a random token for
// gateway.provisioningTokenSeconds, and the Linphone URL that redeems one. Redeemed once, as JSON
// (POST /api/provisioning/redeem) or as Linphone XML (GET /provision/<token>.xml, linphone-provisioning.ts). What is
// shown with the password is voip-routes.ts's.
import type { FastifyRequest } from 'fastify';
import { ha1 } from '../auth/digest.ts';
import { newToken, safeEqual, tokenId } from '../auth/login-token.ts';
import type { ExtensionRef } from '../auth/provisioning.ts';
import { ApiError } from '../errors.ts';
import type { GatewayServices } from './route-spec.ts';
import { qrCodes } from './voip-settings.ts';

const key = (token: string): string => `prov:${tokenId(token)}`;
const aad = (ref: ExtensionRef): string => `prov:${ref.tenant}/${ref.ext}`;

/** Seals `password` under a new token; returns the token (shown once, never stored) and its expiry (ms). */
export async function issueProvisioningToken(g: GatewayServices, ref: ExtensionRef, password: string): Promise<{ token: string; expiresAt: number }> {
  const token = newToken();
  const expiresAt = g.now() + g.cfg.provisioningTokenSeconds * 1000;
  await g.stores.tokens.put(key(token), JSON.stringify({ tenant: ref.tenant, ext: ref.ext, sealed: g.box.seal(password, aad(ref)) }), expiresAt);
  return { token, expiresAt };
}

/**
 * Takes the token (it is gone afterwards, whatever follows) and returns its extension and password. An unknown,
 * expired or used token counts as a failure of the client IP (login-limit.ts); a password rotated again since the
 * token was issued is not the one it holds: refused too, never handed out.
 */
export async function redeemProvisioningToken(g: GatewayServices, req: FastifyRequest, token: string): Promise<{ ref: ExtensionRef; password: string }> {
  await g.limiter.assertOpen(undefined, req.ip);
  const raw = await g.stores.tokens.take(key(token), g.now());
  const bad = new ApiError(400, 'SIPEDGE_ERR_API_TOKEN_INVALID', 'the provisioning token is invalid, expired or already used', { field: 'token' });
  if (raw === undefined) {
    await g.limiter.fail(undefined, req.ip);
    throw bad;
  }
  const v = JSON.parse(raw) as { tenant: string; ext: string; sealed: string };
  const ref = { tenant: v.tenant, ext: v.ext };
  const [e, t] = await Promise.all([g.stores.accounts.getExtension(v.tenant, v.ext), g.stores.accounts.getTenant(v.tenant)]);
  const password = g.box.open(v.sealed, aad(ref));
  if (!e || !t || password === undefined || !safeEqual(ha1('SHA-256', e.ext, t.domain, password), e.cred.sha256)) throw bad;
  return { ref, password };
}

export interface LinphoneOffer {
  /** The remote provisioning URL: works once, within gateway.provisioningTokenSeconds. */
  url: string;
  expiresAt: string;
  qrSvg: string;
  qrPngDataUrl: string;
}

/** Seals `password` under a new token and returns its Linphone provisioning URL (linphone-provisioning.ts) with a QR code. */
export async function linphoneOffer(g: GatewayServices, ref: ExtensionRef, password: string): Promise<LinphoneOffer> {
  const { token, expiresAt } = await issueProvisioningToken(g, ref, password);
  const url = `${g.cfg.publicUrl.replace(/\/+$/, '')}/provision/${token}.xml`;
  return { url, expiresAt: new Date(expiresAt).toISOString(), ...(await qrCodes(url)) };
}
