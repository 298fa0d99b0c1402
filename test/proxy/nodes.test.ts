// Three edges on one real redis-server (127.0.0.1, .2, .3; README "Many nodes"): a PBX (a UDP peer on 127.0.0.4) calls
// and messages users through node A whose flows are on nodes B (SIP.js over WebSocket) and C (a UDP desk phone); a SIPp
// phone at A calls a SIP.js phone at B (load-tests/sipp/{register-auth,invite-via-proxy}.xml); route tokens and flow ids
// of one node never reach a flow of another; a forged internal hop is refused; a node killed with kill -9 loses its
// connection bindings once dead.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { Invitation, SessionState } from 'sip.js';
import { describeSipp, freeUdpPortOn, runSipp } from '../../load-tests/lib/sipp.ts';
import { writeUserFiles } from '../../load-tests/lib/users.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import { register } from '../helpers/phone.ts';
import { ackFor, buildRequest, inDialog, rnd, SipPeer, uriOf } from '../helpers/sip-peer.ts';
import { fixedSdp, installBrowserWebSocket, SDP, SipJsPhone, uninstallBrowserWebSocket } from '../helpers/softphone.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';
const PBX_USER = `sip:2000@${DOMAIN}`;

let nodes: TestEdge[] = [];
let peers: SipPeer[] = [];
let phones: SipJsPhone[] = [];
let children: ChildProcess[] = [];

beforeAll(() => installBrowserWebSocket());
afterAll(() => uninstallBrowserWebSocket());
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const p of phones.splice(0)) await p.close().catch(() => undefined);
  for (const p of peers.splice(0)) await p.close();
  for (const n of nodes.splice(0)) await n.stop();
});

async function peer(o: Parameters<typeof SipPeer.open>[0]): Promise<SipPeer> {
  const p = await SipPeer.open(o);
  peers.push(p);
  return p;
}

/** The PBX: a UDP peer on 127.0.0.4 sending to node A (127.0.0.2) unless told otherwise. */
function pbxPeer(): Promise<SipPeer> {
  return peer({ transport: 'udp', port: 0, localAddress: '127.0.0.4', host: '127.0.0.2' });
}

/** A phone on a node's WebSocket listener. */
function wsPhone(node: TestEdge): Promise<SipPeer> {
  return peer({ transport: 'ws', port: node.wsPort, host: node.config.sip.ws.split(':')[0] });
}

/**
 * Nodes A (127.0.0.2), B (127.0.0.1: the softphone helper connects there) and C (127.0.0.3) on one Redis key space,
 * the PBX their one upstream, tenant acme with 1001 and 1002; every node has seen the others' heartbeats.
 */
async function cluster(
  pbx: SipPeer | undefined,
  {
    keyPrefix = `nodes${process.pid}x${rnd(3)}:`,
    // Heartbeats are driven by the test (nodes.beat()) unless it asks for real ones.
    timing = { heartbeatSeconds: 60, deadAfterSeconds: 120 },
    userAuth = 'challenge' as 'challenge' | 'registered',
  } = {},
): Promise<{ a: TestEdge; b: TestEdge; c: TestEdge }> {
  const start = (host: string): Promise<TestEdge> =>
    startEdge({
      store: 'redis',
      overrides: {
        redis: { keyPrefix },
        sip: { udp: `${host}:0`, tcp: `${host}:0`, ws: `${host}:0`, tls: 'off', wss: 'off' },
        http: { listen: `${host}:0`, https: 'off' },
        upstreams: pbx === undefined ? [] : [{ uri: `sip:${pbx.host}:${pbx.port}`, priority: 1, weight: 1, transport: 'udp' }],
        proxy: { userAuth, probe: { intervalSeconds: 1, timeoutSeconds: 0.5, failuresToDown: 2, successesToUp: 1 } },
        cluster: timing,
        // These stories are about signalling across nodes; media anchoring (a PBX's plain RTP to a WebSocket phone) has
        // its own tests (anchoring.test.ts) and would need an rtpengine here.
        media: { anchoring: 'off' },
      },
    });
  const a = await start('127.0.0.2');
  const b = await start('127.0.0.1');
  const c = await start('127.0.0.3');
  nodes.push(a, b, c);
  for (const n of nodes) await n.app.nodes.beat();
  await a.cli(async (p) => {
    await p.addTenant('acme', DOMAIN);
    for (const ext of ['1001', '1002']) await p.addExtension({ ext, tenant: 'acme' }, { password: PW });
  });
  if (pbx !== undefined) {
    pbx.edgePort = a.udpPort;
    expect(await eventually(() => a.app.upstreams.healthy().length === 1, 5000)).toBe(true);
  }
  return { a, b, c };
}

/** The PBX's INVITE to 1001 at node A (the PBX's edge address); returns it and its ids. */
function inviteFromPbx(pbx: SipPeer, to = `sip:1001@${DOMAIN}`): ReturnType<typeof buildRequest> {
  const inv = buildRequest(pbx, { method: 'INVITE', ruri: to, from: PBX_USER, to, body: SDP });
  pbx.send(inv.text);
  return inv;
}

describe('many nodes on one Redis', () => {
  it('relays the PBX INVITE, ACK, MESSAGE and BYE at node A to a SIP.js phone on node B, and its BYE back through both nodes', async () => {
    const pbx = await pbxPeer();
    const { a, b } = await cluster(pbx);
    let invitation: Invitation | undefined;
    const messages: string[] = [];
    const soft = new SipJsPhone({ name: 'soft-b', wsPort: b.wsPort, ext: '1001', domain: DOMAIN, password: PW }, {}, {
      ...fixedSdp,
      delegate: {
        onInvite: (i) => {
          invitation = i;
          void i.accept();
        },
        onMessage: (m) => {
          messages.push(m.request.body);
          void m.accept();
        },
      },
    });
    phones.push(soft);
    expect((await soft.start()).status, soft.wire()).toBe(200);

    const inv = inviteFromPbx(pbx);
    const ok = await pbx.waitFor(pbx.response(200, 'INVITE', inv.callId), 8000);
    // Record-Route of both nodes: B's pair (phone side, A side) above A's pair (B side, PBX side).
    const rr = ok.headers('record-route');
    expect(rr).toHaveLength(4);
    expect(rr[0]).toContain(`127.0.0.1:${b.wsPort};transport=ws`);
    expect(rr[3]).toContain(`127.0.0.2:${a.udpPort};transport=udp`);
    expect(ok.headers('via')).toHaveLength(1);
    expect(await a.metric('sipedge_proxy_requests_total', { route: 'from-upstream' })).toBe(1);
    expect(await b.metric('sipedge_proxy_requests_total', { route: 'from-node' })).toBe(1);
    pbx.send(ackFor(pbx, inv, ok, { from: PBX_USER }));
    await new Promise<void>((resolve) => {
      const s = invitation!;
      if (s.state === SessionState.Established) resolve();
      else s.stateChange.addListener((st) => st === SessionState.Established && resolve());
    });

    // An out-of-dialog MESSAGE from the PBX reaches the phone on B the same way.
    const msg = buildRequest(pbx, { method: 'MESSAGE', ruri: `sip:1001@${DOMAIN}`, from: PBX_USER, to: `sip:1001@${DOMAIN}`, headers: ['Content-Type: text/plain'] });
    pbx.send(msg.text.replace(/Content-Length: 0\r\n\r\n$/, 'Content-Length: 5\r\n\r\nhello'));
    await pbx.waitFor(pbx.response(200, 'MESSAGE', msg.callId), 8000);
    expect(messages).toEqual(['hello']);

    // The phone hangs up: B relays the BYE to A (its token names A), A sends it to the PBX.
    const terminated = new Promise<void>((resolve) => invitation!.stateChange.addListener((st) => st === SessionState.Terminated && resolve()));
    void invitation!.bye();
    const bye = await pbx.waitFor(pbx.request('BYE', inv.callId), 8000);
    expect(bye.headers('route')).toHaveLength(0);
    pbx.reply(bye, 200);
    await terminated;
  }, 60_000);

  it('a SIPp phone registered at node A calls a SIP.js phone on node B (no upstream): INVITE, ACK and BYE cross the nodes', async () => {
    const { a, b } = await cluster(undefined, { userAuth: 'registered' });
    const dir = mkdtempSync(join(tmpdir(), 'sipedge-nodes-sipp-'));
    // SIPp's caller 1003 (load-tests/sipp/register-auth.xml, invite-via-proxy.xml) calls 9<its extension>: 91003.
    const users = writeUserFiles({ count: 1, tenant: 'acme', domain: DOMAIN, outDir: dir, firstExtension: 1003 });
    await a.cli(async (p) => {
      await p.importCsv(readFileSync(users.importCsv, 'utf8'));
      await p.addExtension({ ext: '91003', tenant: 'acme' }, { password: PW });
    });
    let invitation: Invitation | undefined;
    const soft = new SipJsPhone({ name: 'callee-b', wsPort: b.wsPort, ext: '91003', domain: DOMAIN, password: PW }, {}, {
      ...fixedSdp,
      delegate: {
        onInvite: (i) => {
          invitation = i;
          void i.accept();
        },
      },
    });
    phones.push(soft);
    expect((await soft.start()).status, soft.wire()).toBe(200);
    const localPort = await freeUdpPortOn('127.0.0.1');
    const sipp = (scenario: string) =>
      runSipp({ scenario: `load-tests/sipp/${scenario}.xml`, target: `127.0.0.2:${a.udpPort}`, inf: users.sippCsv, calls: 1, authUri: DOMAIN, localPort, timeoutMs: 30_000 });
    const reg = await sipp('register-auth');
    expect(reg.exitCode, describeSipp(reg)).toBe(0);
    const call = await sipp('invite-via-proxy');
    expect(call.exitCode, describeSipp(call)).toBe(0);
    expect(call.successful).toBe(1);
    expect(invitation?.state).toBe(SessionState.Terminated);
    expect(await a.metric('sipedge_proxy_requests_total', { route: 'local' })).toBe(1);
    expect(await b.metric('sipedge_proxy_requests_total', { route: 'from-node' })).toBe(1);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('delivers the PBX BYE of a call on node B that lands on node A to the right phone, never to a phone on A with the same flow id', async () => {
    const pbx = await pbxPeer();
    const { a, b } = await cluster(pbx);
    // Each node's first WebSocket connection: the same flow id on both.
    const atB = await wsPhone(b);
    const atA = await wsPhone(a);
    expect(await register(atB, '1001', DOMAIN, PW)).toBe(200);
    expect(await register(atA, '1002', DOMAIN, PW)).toBe(200);

    // The PBX calls 1001 through B (where its flow is): the plain one-node case mints B's tokens.
    const inv = buildRequest(pbx, { method: 'INVITE', ruri: `sip:1001@${DOMAIN}`, from: PBX_USER, to: `sip:1001@${DOMAIN}`, body: SDP });
    pbx.send(inv.text, { address: '127.0.0.1', port: b.udpPort });
    const ring = await atB.waitFor(atB.request('INVITE', inv.callId));
    const toTag = atB.reply(ring, 200, { body: SDP });
    const ok = await pbx.waitFor(pbx.response(200, 'INVITE', inv.callId));
    const routes = [...ok.headers('record-route')].reverse();
    const bye = (cseq: number): string =>
      inDialog(pbx, { method: 'BYE', target: uriOf(ok.header('contact')!), routes, from: PBX_USER, fromTag: inv.fromTag, to: `sip:1001@${DOMAIN}`, toTag, callId: inv.callId, cseq });

    // The attack: the same BYE sent to node A. A relays it to B (the node in the token); 1002 on A never sees it.
    pbx.send(bye(2));
    const relayed = await atB.waitFor(atB.request('BYE', inv.callId), 5000);
    atB.reply(relayed, 200);
    await pbx.waitFor(pbx.response(200, 'BYE', inv.callId));
    expect(atA.seen.get('BYE') ?? 0).toBe(0);

    // Node B leaves; A no longer knows where B's tokens go: 403, and still nothing for the phone on A.
    await b.stop();
    nodes = nodes.filter((n) => n !== b);
    await a.app.nodes.beat();
    pbx.send(bye(3));
    await pbx.waitFor(pbx.response(403, 'BYE', inv.callId));
    expect(await a.metric('sipedge_proxy_requests_total', { route: 'in-dialog' })).toBe(1);
    expect(atA.seen.get('BYE') ?? 0).toBe(0);
  }, 60_000);

  it('forks the PBX call at node A to the user\'s WebSocket phone on B and UDP desk phone on C, each rung once', async () => {
    const pbx = await pbxPeer();
    const { b, c } = await cluster(pbx);
    const soft = await wsPhone(b);
    const desk = await peer({ transport: 'udp', port: c.udpPort, host: '127.0.0.3' });
    expect(await register(soft, '1001', DOMAIN, PW)).toBe(200);
    expect(await register(desk, '1001', DOMAIN, PW)).toBe(200);

    const inv = inviteFromPbx(pbx);
    const atSoft = await soft.waitFor(soft.request('INVITE', inv.callId), 5000);
    const atDesk = await desk.waitFor(desk.request('INVITE', inv.callId), 5000);
    // The desk phone is rung from C, the node that holds its pinhole.
    expect(atDesk.from).toMatchObject({ address: '127.0.0.3', port: c.udpPort });
    expect(atSoft.raw).not.toContain('127.0.0.4');
    expect(atSoft.headers('sipedge-hop')).toHaveLength(0);
    const ringDesk = desk.reply(atDesk, 180);
    soft.reply(atSoft, 200, { body: SDP });
    await pbx.waitFor(pbx.response(200, 'INVITE', inv.callId), 5000);
    const cancel = await desk.waitFor(desk.request('CANCEL', inv.callId), 5000);
    desk.reply(cancel, 200);
    desk.reply(atDesk, 487, { toTag: ringDesk });
    await desk.waitFor(desk.request('ACK', inv.callId));
    await desk.settled();
    expect(desk.seen.get('INVITE')).toBe(1);
    expect(soft.seen.get('INVITE')).toBe(1);
  }, 60_000);

  it('admits without a digest (proxy.userAuth registered) only the connection a user registered on, not the same flow id on another node', async () => {
    const pbx = await pbxPeer();
    const { a, b } = await cluster(pbx, { userAuth: 'registered' });
    const atB = await wsPhone(b);
    const atA = await wsPhone(a);
    expect(await register(atB, '1001', DOMAIN, PW)).toBe(200);
    expect(await register(atA, '1002', DOMAIN, PW)).toBe(200);
    const call = (from: SipPeer): ReturnType<typeof buildRequest> => {
      const inv = buildRequest(from, { method: 'INVITE', ruri: `sip:2000@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, to: `sip:2000@${DOMAIN}`, body: SDP });
      from.send(inv.text);
      return inv;
    };
    // 1002's connection on A claims to be 1001 (whose connection on B has the same id): challenged.
    const forged = call(atA);
    await atA.waitFor(atA.response(407, 'INVITE', forged.callId));
    // 1001 on its own connection is admitted and reaches the PBX.
    const real = call(atB);
    await pbx.waitFor(pbx.request('INVITE', real.callId), 5000);
    expect(pbx.seen.get('INVITE')).toBe(1);
  }, 60_000);

  it('refuses with 403 a request that claims to come from another node without its key', async () => {
    const pbx = await pbxPeer();
    const { a, b } = await cluster(pbx);
    const soft = await wsPhone(b);
    expect(await register(soft, '1001', DOMAIN, PW)).toBe(200);
    const outsider = await peer({ transport: 'tcp', port: b.tcpPort, host: '127.0.0.1' });
    const to = `sip:1001@${DOMAIN}`;
    const now = Date.now();
    const forged = [
      `node=${a.app.node.id};to=${b.app.node.id};t=${now};flow=ws:1;mac=${'A'.repeat(22)}`,
      // A well-formed header without a MAC, and one for another node.
      `node=${a.app.node.id};to=${b.app.node.id};t=${now};flow=ws:1`,
      `node=${b.app.node.id};to=${a.app.node.id};t=${now};flow=ws:1;mac=${'A'.repeat(22)}`,
    ];
    for (const hop of forged) {
      const req = buildRequest(outsider, { method: 'INVITE', ruri: to, from: PBX_USER, to, body: SDP, headers: [`Sipedge-Hop: ${hop}`] });
      outsider.send(req.text);
      await outsider.waitFor(outsider.response(403, 'INVITE', req.callId));
    }
    // Refused before anything was forwarded: nothing relayed on B, nothing for the phone.
    expect(await b.metric('sipedge_proxy_rejected_total', { reason: 'forbidden' })).toBe(3);
    expect(await b.metric('sipedge_proxy_requests_total', { route: 'from-node' })).toBe(0);
    expect(soft.seen.get('INVITE') ?? 0).toBe(0);
  }, 60_000);

  it('removes the connection bindings of a node killed with kill -9 once it is dead, and calls fall back to the user\'s other phone', async () => {
    const pbx = await pbxPeer();
    const keyPrefix = `nodes${process.pid}x${rnd(3)}:`;
    // Dead after 5 s without a heartbeat (every 0.5 s): the survivors judge by their own config.
    const timing = { heartbeatSeconds: 0.5, deadAfterSeconds: 5 };
    const { a } = await cluster(pbx, { keyPrefix, timing });
    // Node D: `sipedge start` in its own process on the same Redis key space, with a short heartbeat.
    const dir = mkdtempSync(join(tmpdir(), 'sipedge-node-d-'));
    const config = join(dir, 'sipedge.json');
    writeFileSync(config, JSON.stringify({
      dataDir: dir,
      store: 'redis',
      redis: { url: `redis://127.0.0.1:${inject('redisPort')}`, keyPrefix },
      sip: { udp: '127.0.0.5:0', tcp: '127.0.0.5:0', ws: '127.0.0.5:0', tls: 'off', wss: 'off' },
      http: { listen: 'off', https: 'off' },
      cluster: timing,
      media: { anchoring: 'off' },
      log: { level: 'warn' },
    }));
    const d = spawn(process.execPath, ['bin/sipedge.js', 'start'], { env: { ...process.env, SIPEDGE_CONFIG: config } });
    children.push(d);
    const listening = await new Promise<string>((resolve, reject) => {
      let out = '';
      // The listening line goes to stderr (stdout carries the JSON log lines only).
      d.stderr!.on('data', (b: Buffer) => {
        out += String(b);
        const m = /sipedge listening.*/.exec(out);
        if (m) resolve(m[0]);
      });
      d.on('exit', (code) => reject(new Error(`node D exited (${code}):\n${out}`)));
    });
    const wsPort = Number(/ws 127\.0\.0\.5:(\d+)/.exec(listening)![1]);
    const soft = await peer({ transport: 'ws', port: wsPort, host: '127.0.0.5' });
    const desk = await peer({ transport: 'udp', port: a.udpPort, host: '127.0.0.2' });
    expect(await register(soft, '1001', DOMAIN, PW)).toBe(200);
    expect(await register(desk, '1001', DOMAIN, PW)).toBe(200);
    await a.app.nodes.beat();
    const before = (await a.app.stores.bindings.get('1001@acme', Date.now())).bindings;
    expect(before.map((b) => b.transport).sort()).toEqual(['udp', 'ws']);
    const dId = before.find((b) => b.transport === 'ws')!.nodeId;

    d.kill('SIGKILL');
    // One of the survivors (whichever removes D's record first) cleans up and logs it.
    const dead = JSON.parse(
      await Promise.any(nodes.map((n) => n.waitForLog((l) => l.includes('"node.dead"') && l.includes(dId), 30_000))),
    ) as Record<string, unknown>;
    expect(dead.removedBindings).toBe(1);
    const after = (await a.app.stores.bindings.get('1001@acme', Date.now())).bindings;
    expect(after.map((b) => b.transport)).toEqual(['udp']);
    expect((await a.app.stores.nodes.list()).map((n) => n.id)).not.toContain(dId);

    // The PBX's call to 1001 rings the desk phone that is left.
    const inv = inviteFromPbx(pbx);
    const atDesk = await desk.waitFor(desk.request('INVITE', inv.callId), 5000);
    desk.reply(atDesk, 486);
    await pbx.waitFor(pbx.response(486, 'INVITE', inv.callId), 5000);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
