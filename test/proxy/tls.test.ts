// Calls through the edge over TLS (RFC 3261 §26): a TLS phone bridged to a UDP PBX and back, a PBX reached over TLS
// with its certificate checked against a private CA (tls.upstreamCaFile), and sips: requests that only travel on TLS
// hops with sips: Record-Route. Real sockets on loopback; the edge runs through createApp with its self-signed
// certificate; the PBXs are SipPeers on 127.0.0.2.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateSelfSigned } from '../../src/transport/certificates.ts';
import type { DeepPartial } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import { proxyAuthorization, register } from '../helpers/phone.ts';
import { ackFor, buildRequest, inDialog, SipPeer, uriOf } from '../helpers/sip-peer.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';
const SDP = 'v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

let edge: TestEdge | undefined;
const peers: SipPeer[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) await p.close();
  await edge?.stop();
  edge = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(overrides: DeepPartial<Config> = {}): Promise<void> {
  edge = await startEdge({ overrides: { proxy: { probe: { intervalSeconds: 1, timeoutSeconds: 0.5, failuresToDown: 2, successesToUp: 1 } }, ...overrides } });
  await edge.cli(async (p) => {
    await p.addTenant('acme', DOMAIN);
    for (const ext of ['1001', '1002']) await p.addExtension({ ext, tenant: 'acme' }, { password: PW });
  });
  expect(await eventually(async () => !!(await edge!.app.stores.accounts.getExtension('acme', '1002')))).toBe(true);
}

async function tlsPhone(): Promise<SipPeer> {
  const p = await SipPeer.open({ transport: 'tls', port: edge!.tlsPort, ca: edge!.app.certificates!.current.cert });
  peers.push(p);
  return p;
}

async function udpPeer(address = '127.0.0.1'): Promise<SipPeer> {
  const p = await SipPeer.open({ transport: 'udp', port: edge?.udpPort ?? 0, localAddress: address });
  peers.push(p);
  return p;
}

/** `phone` (ext 1001) sends INVITE `ruri`, answers the 407; resolves with the request as `callee` receives it. */
async function invite(phone: SipPeer, ruri: string, callee: SipPeer) {
  const base = { method: 'INVITE', ruri, from: `sip:1001@${DOMAIN}`, to: ruri, body: SDP };
  const first = buildRequest(phone, base);
  phone.send(first.text);
  const challenge = await phone.waitFor(phone.response(407, 'INVITE', first.callId));
  const auth = proxyAuthorization(challenge, { username: '1001', password: PW, method: 'INVITE', uri: ruri });
  const inv = buildRequest(phone, { ...base, callId: first.callId, fromTag: first.fromTag, cseq: 2, headers: [`Proxy-Authorization: ${auth}`] });
  phone.send(inv.text);
  const req = await callee.waitFor(callee.request('INVITE', inv.callId), 4000);
  return { inv, req };
}

describe('proxying over TLS', () => {
  it('bridges a TLS phone and a UDP PBX both ways: each side sees the edge on its own transport', async () => {
    const pbx = await udpPeer('127.0.0.2');
    await setup({ upstreams: [{ uri: `sip:127.0.0.2:${pbx.port}`, priority: 1, weight: 1, transport: 'udp' }] });
    pbx.edgePort = edge!.udpPort;
    expect(await eventually(() => edge!.app.upstreams.healthy().length === 1)).toBe(true);
    const phone = await tlsPhone();
    expect(await register(phone, '1001', DOMAIN, PW)).toBe(200);

    const { inv, req } = await invite(phone, `sip:2000@${DOMAIN}`, pbx);
    // Towards the PBX: the edge's UDP Via and Record-Route; the caller-facing Record-Route names the TLS side.
    expect(req.headers('via')[0]).toMatch(new RegExp(`^SIP/2\\.0/UDP 127\\.0\\.0\\.1:${edge!.udpPort};`));
    const [pbxSide, phoneSide] = req.headers('record-route');
    expect(pbxSide).toMatch(new RegExp(`@127\\.0\\.0\\.1:${edge!.udpPort};transport=udp;lr>$`));
    expect(phoneSide).toMatch(new RegExp(`@127\\.0\\.0\\.1:${edge!.tlsPort};transport=tls;lr>$`));

    const toTag = pbx.reply(req, 200, { body: SDP });
    const ok = await phone.waitFor(phone.response(200, 'INVITE', inv.callId));
    expect(uriOf(ok.header('contact')!)).toMatch(new RegExp(`@127\\.0\\.0\\.1:${edge!.tlsPort};transport=tls$`));
    expect(ok.raw).not.toContain('127.0.0.2');
    phone.send(ackFor(phone, inv, ok, { from: `sip:1001@${DOMAIN}`, cseq: 2 }));
    await pbx.waitFor(pbx.request('ACK', inv.callId));

    // The PBX hangs up: the BYE reaches the phone on its TLS connection, with the edge's TLS Via.
    pbx.send(inDialog(pbx, { method: 'BYE', target: `sip:peer@127.0.0.1:${phone.port};transport=tls`, routes: req.headers('record-route'), from: `sip:2000@${DOMAIN}`, fromTag: toTag, to: `sip:1001@${DOMAIN}`, toTag: inv.fromTag, callId: inv.callId, cseq: 1 }));
    const bye = await phone.waitFor(phone.request('BYE', inv.callId));
    expect(bye.headers('via')).toHaveLength(1);
    expect(bye.headers('via')[0]).toMatch(new RegExp(`^SIP/2\\.0/TLS 127\\.0\\.0\\.1:${edge!.tlsPort};`));
    phone.reply(bye, 200);
    await pbx.waitFor(pbx.response(200, 'BYE', inv.callId));
  });

  it('reaches a TLS upstream whose certificate chains to tls.upstreamCaFile and names its host, and never one whose certificate names another host', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipedge-upca-'));
    dirs.push(dir);
    const good = await generateSelfSigned(['127.0.0.2'], Date.now());
    const wrongName = await generateSelfSigned(['pbx.elsewhere.example'], Date.now());
    writeFileSync(join(dir, 'ca.pem'), good.cert + wrongName.cert);
    const pbx = await SipPeer.tlsServer('127.0.0.2', good.cert, good.key);
    const impostor = await SipPeer.tlsServer('127.0.0.2', wrongName.cert, wrongName.key);
    peers.push(pbx, impostor);
    await setup({
      tls: { upstreamCaFile: join(dir, 'ca.pem') },
      upstreams: [
        { uri: `sip:127.0.0.2:${pbx.port};transport=tls`, priority: 1, weight: 1, transport: 'tls' },
        { uri: `sips:127.0.0.2:${impostor.port}`, priority: 2, weight: 1, transport: 'tls' },
      ],
    });
    expect(await eventually(() => edge!.app.upstreams.healthy().length === 1, 5000)).toBe(true);
    expect(edge!.app.upstreams.healthy()[0]!.uri).toBe(`sip:127.0.0.2:${pbx.port};transport=tls`);
    expect(impostor.seen.size).toBe(0);
    expect(edge!.logs.some((l) => l.includes('"upstream.tls_failed"') && l.includes(`sips:127.0.0.2:${impostor.port}`))).toBe(true);

    const phone = await udpPeer();
    expect(await register(phone, '1001', DOMAIN, PW)).toBe(200);
    const { inv, req } = await invite(phone, `sip:2000@${DOMAIN}`, pbx);
    expect(req.headers('via')[0]).toMatch(/^SIP\/2\.0\/TLS /);
    expect(req.headers('record-route')[0]).toMatch(new RegExp(`@127\\.0\\.0\\.1:${edge!.tlsPort};transport=tls;lr>$`));
    pbx.reply(req, 486);
    expect((await phone.waitFor(phone.response(486, 'INVITE', inv.callId))).status).toBe(486);
    expect(await edge!.metric('sipedge_connections_open', { transport: 'tls' })).toBeGreaterThanOrEqual(1);
  });

  it('sends a sips: call only to TLS devices, with sips: Record-Route, and answers 480 when the callee has none', async () => {
    await setup();
    const alice = await tlsPhone();
    const bobTls = await tlsPhone();
    const bobUdp = await udpPeer();
    expect(await register(alice, '1001', DOMAIN, PW)).toBe(200);
    expect(await register(bobTls, '1002', DOMAIN, PW)).toBe(200);
    expect(await register(bobUdp, '1002', DOMAIN, PW)).toBe(200);

    const { inv, req } = await invite(alice, `sips:1002@${DOMAIN}`, bobTls);
    expect(req.headers('record-route')).toEqual([
      expect.stringMatching(new RegExp(`^<sips:[^@]+@127\\.0\\.0\\.1:${edge!.tlsPort};lr>$`)),
      expect.stringMatching(new RegExp(`^<sips:[^@]+@127\\.0\\.0\\.1:${edge!.tlsPort};lr>$`)),
    ]);
    bobTls.reply(req, 180);
    await alice.waitFor(alice.response(180, 'INVITE', inv.callId));
    await expect(bobUdp.waitFor(bobUdp.request('INVITE', inv.callId), 300)).rejects.toThrow(/no matching SIP/);
    bobTls.reply(req, 603);
    await alice.waitFor(alice.response(603, 'INVITE', inv.callId));

    // 1001 now only has a UDP device: a sips: call to it cannot be delivered over TLS.
    const carol = await udpPeer();
    await alice.close();
    expect(await register(carol, '1001', DOMAIN, PW)).toBe(200);
    const msg = buildRequest(bobTls, { method: 'MESSAGE', ruri: `sips:1001@${DOMAIN}`, from: `sip:1002@${DOMAIN}`, to: `sips:1001@${DOMAIN}` });
    bobTls.send(msg.text);
    const ch = await bobTls.waitFor(bobTls.response(407, 'MESSAGE', msg.callId));
    const auth = proxyAuthorization(ch, { username: '1002', password: PW, method: 'MESSAGE', uri: `sips:1001@${DOMAIN}` });
    bobTls.send(buildRequest(bobTls, { method: 'MESSAGE', ruri: `sips:1001@${DOMAIN}`, from: `sip:1002@${DOMAIN}`, to: `sips:1001@${DOMAIN}`, callId: msg.callId, fromTag: msg.fromTag, cseq: 2, headers: [`Proxy-Authorization: ${auth}`] }).text);
    expect((await bobTls.waitFor(bobTls.response(480, 'MESSAGE', msg.callId))).status).toBe(480);
    await expect(carol.waitFor(carol.request('MESSAGE', msg.callId), 300)).rejects.toThrow(/no matching SIP/);
  });
});
