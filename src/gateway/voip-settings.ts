// What a phone needs to register through the edge (VoIP settings) and the provisioning QR content built from it.
// The upstream PBX is never named: phones only ever see the edge. Password rotation is auth/provisioning.ts's.
import QRCode from 'qrcode';
import type { Extension, Tenant } from '../store/types.ts';

/** Bound SIP ports of this edge (0/absent = that transport is off). */
export interface SipPorts {
  udp?: number;
  tcp?: number;
  tls?: number;
  ws?: number;
  wss?: number;
}

export interface VoipSettings {
  sipUsername: string;
  /** SIP domain of the tenant; also the digest realm. */
  domain: string;
  realm: string;
  /** The one server to configure: the edge. */
  server: string;
  /** host:port per transport (udp, tcp, tls); ws and wss as ws:// and wss:// URLs. */
  transports: { udp?: string; tcp?: string; tls?: string; ws?: string; wss?: string };
  /** ext-tenant identity in auth.sharedDomain, when configured. */
  sharedUsername?: string;
}

/**
 * The host phones use for the edge: sip.advertisedHost (without a port), else the listen host; for a wildcard listener
 * `wildcardHost` (the app passes the address of the interface holding the default route: a phone is rarely on the
 * edge's own host).
 */
export function edgeHost(advertisedHost: string, listen: string, wildcardHost: () => string = () => '127.0.0.1'): string {
  if (advertisedHost !== '') {
    if (advertisedHost.startsWith('[')) return advertisedHost.slice(0, advertisedHost.indexOf(']') + 1);
    const colon = advertisedHost.lastIndexOf(':');
    return colon > 0 && advertisedHost.indexOf(':') === colon ? advertisedHost.slice(0, colon) : advertisedHost;
  }
  const host = listen.startsWith('[') ? listen.slice(0, listen.indexOf(']') + 1) : listen.slice(0, listen.lastIndexOf(':'));
  if (listen === 'off') return '127.0.0.1';
  if (host !== '0.0.0.0' && host !== '[::]' && host !== '') return host;
  const a = wildcardHost();
  return a.includes(':') ? `[${a}]` : a;
}

export function voipSettings(e: Extension, t: Tenant, host: string, ports: SipPorts, sharedDomain: string): VoipSettings {
  const transports: VoipSettings['transports'] = {};
  if (ports.udp) transports.udp = `${host}:${ports.udp}`;
  if (ports.tcp) transports.tcp = `${host}:${ports.tcp}`;
  if (ports.tls) transports.tls = `${host}:${ports.tls}`;
  if (ports.ws) transports.ws = `ws://${host}:${ports.ws}`;
  if (ports.wss) transports.wss = `wss://${host}:${ports.wss}`;
  const s: VoipSettings = { sipUsername: e.ext, domain: t.domain, realm: t.domain, server: host, transports };
  if (sharedDomain !== '') s.sharedUsername = `${e.ext}-${e.tenant}`;
  return s;
}

/**
 * The provisioning QR content: one line of JSON,
 * {"type":"sipedge-provisioning","version":1,"server","domain","realm","username","password","transports"}.
 */
export function provisioningContent(s: VoipSettings, password: string): string {
  return JSON.stringify({
    type: 'sipedge-provisioning',
    version: 1,
    server: s.server,
    domain: s.domain,
    realm: s.realm,
    username: s.sipUsername,
    password,
    transports: s.transports,
  });
}

/** QR code of `content` as SVG text and as a PNG data URL (for <img src>). */
export async function qrCodes(content: string): Promise<{ qrSvg: string; qrPngDataUrl: string }> {
  const [qrSvg, qrPngDataUrl] = await Promise.all([
    QRCode.toString(content, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }),
    QRCode.toDataURL(content, { errorCorrectionLevel: 'M', margin: 2, width: 256 }),
  ]);
  return { qrSvg, qrPngDataUrl };
}
