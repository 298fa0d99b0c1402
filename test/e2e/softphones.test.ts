// The browser softphones users run, JsSIP 3.13 and SIP.js 0.21, register with a real edge over WebSocket
// (subprotocol `sip`, RFC 7118), and the registrar sees them. The libraries run unmodified with their default
// User-Agent strings; the helper (test/helpers/softphone.ts) only supplies Node's missing browser WebSocket.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import JsSIP from 'jssip';
import { RegistererState } from 'sip.js';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import {
  installBrowserWebSocket,
  JsSipPhone,
  SipJsPhone,
  uninstallBrowserWebSocket,
  unregisters,
  type SoftphoneAccount,
} from '../helpers/softphone.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';
const WRONG_PW = 'wrong-password-123';

describe('browser softphones registering over WebSocket', () => {
  let edge: TestEdge;
  const phones: Array<JsSipPhone | SipJsPhone> = [];

  beforeAll(() => installBrowserWebSocket());
  afterAll(() => uninstallBrowserWebSocket());

  afterEach(async () => {
    for (const p of phones.splice(0)) await p.close();
    await edge?.stop();
  });

  async function setup(): Promise<void> {
    edge = await startEdge({ store: 'memory' });
    await edge.cli(async (p) => {
      await p.addTenant('acme', DOMAIN);
      for (const ext of ['1001', '1002']) await p.addExtension({ ext, tenant: 'acme' }, { password: PW });
    });
    // The CLI wrote through its own store; wait until the running edge sees it.
    expect(await eventually(async () => !!(await edge.app.stores.accounts.getExtension('acme', '1002')))).toBe(true);
  }

  function account(name: string, ext: string, password: string): SoftphoneAccount {
    return { name, wsPort: edge.wsPort, ext, domain: DOMAIN, password };
  }

  function jssip(name: string, ext: string, password = PW): JsSipPhone {
    const p = new JsSipPhone(account(name, ext, password));
    phones.push(p);
    return p;
  }

  function sipjs(name: string, ext: string, password = PW, registerer: ConstructorParameters<typeof SipJsPhone>[1] = {}): SipJsPhone {
    const p = new SipJsPhone(account(name, ext, password), registerer);
    phones.push(p);
    return p;
  }

  const bindingsOf = async (aor: string) => (await edge.app.stores.bindings.get(aor, Date.now())).bindings;

  it('registers a JsSIP softphone with its VoIP password, and the edge holds one ws binding for it', async () => {
    await setup();
    const alice = jssip('alice', '1001');
    expect(await alice.start(), alice.wire()).toEqual({ registered: true });
    const bindings = await bindingsOf('1001@acme');
    expect(bindings).toHaveLength(1);
    expect(bindings[0]).toMatchObject({ transport: 'ws', sourceAddress: '127.0.0.1', sourcePort: alice.socket.localPort });
    expect(bindings[0]!.userAgent).toBe(`JsSIP ${JsSIP.version}`);
    expect(await edge.metric('sipedge_registrations_active')).toBe(1);
  });

  it('registers a SIP.js softphone with its VoIP password, and the edge holds one ws binding for it', async () => {
    await setup();
    const bob = sipjs('bob', '1002');
    expect(await bob.start(), bob.wire()).toEqual({ status: 200, state: RegistererState.Registered });
    const bindings = await bindingsOf('1002@acme');
    expect(bindings).toHaveLength(1);
    expect(bindings[0]).toMatchObject({ transport: 'ws', sourceAddress: '127.0.0.1', sourcePort: bob.socket.localPort });
    // SIP.js 0.21.2 still calls itself 0.21.1 (its LIBRARY_VERSION was not bumped).
    expect(bindings[0]!.userAgent).toMatch(/^SIP\.js\/0\.21\./);
    expect(await edge.metric('sipedge_registrations_active')).toBe(1);
  });

  it('refuses a JsSIP softphone with a wrong password: registrationFailed with an authentication cause, counted as bad-password', async () => {
    await setup();
    const mallory = jssip('mallory', '1001', WRONG_PW);
    const result = await mallory.start();
    expect(result, mallory.wire()).toEqual({ registered: false, cause: JsSIP.C.causes.AUTHENTICATION_ERROR, status: 401 });
    // JsSIP answers the challenge once and gives up: one wrong digest, one step toward the lockout.
    expect(await edge.metric('sipedge_auth_failures_total', { reason: 'bad-password' }), mallory.wire()).toBe(1);
    expect(await bindingsOf('1001@acme')).toHaveLength(0);
  });

  it('leaves a SIP.js softphone with a wrong password unregistered, counted as bad-password', async () => {
    await setup();
    const mallory = sipjs('mallory', '1002', WRONG_PW);
    expect(await mallory.start(), mallory.wire()).toEqual({ status: 401, state: RegistererState.Unregistered });
    // Like JsSIP, SIP.js answers the challenge once: one wrong digest, one step toward the lockout.
    expect(await edge.metric('sipedge_auth_failures_total', { reason: 'bad-password' }), mallory.wire()).toBe(1);
    expect(await bindingsOf('1002@acme')).toHaveLength(0);
  });

  it('forgets a JsSIP softphone the user switches off: ua.stop() unregisters and the binding is gone', async () => {
    await setup();
    const alice = jssip('alice', '1001');
    expect(await alice.start(), alice.wire()).toEqual({ registered: true });
    expect(await bindingsOf('1001@acme')).toHaveLength(1);
    // `unregistered` comes with the 200 to the un-REGISTER, which the edge sends after removing the binding
    // (so no polling here); JsSIP closes the socket only after that.
    expect(await alice.switchOff(), alice.wire()).toBe(200);
    expect(unregisters(alice.socket.sent).length).toBeGreaterThanOrEqual(1);
    expect(await bindingsOf('1001@acme')).toHaveLength(0);
    expect(await edge.metric('sipedge_registrations_active')).toBe(0);
  });

  it('forgets a JsSIP softphone whose connection drops, without an un-REGISTER, and holds it again when JsSIP reconnects', async () => {
    await setup();
    const alice = jssip('alice', '1001');
    expect(await alice.start(), alice.wire()).toEqual({ registered: true });
    const first = alice.socket;
    const dropped = alice.disconnected();
    first.terminate(); // the network goes away: no close frame, no un-REGISTER
    expect(await dropped).toEqual({ error: true });
    // Listen only now: on the drop JsSIP also reports registrationFailed ('Connection Error') for its last REGISTER.
    const back = alice.nextRegistration();
    expect(await eventually(async () => (await bindingsOf('1001@acme')).length === 0), `binding still held after the drop\n${alice.wire()}`).toBe(true);
    expect(unregisters(first.sent)).toEqual([]);
    // JsSIP reconnects by itself (2 s later, its default) and registers again from a new socket.
    expect(await back, alice.wire()).toEqual({ registered: true });
    expect(alice.sockets).toHaveLength(2);
    const bindings = await bindingsOf('1001@acme');
    expect(bindings).toHaveLength(1);
    expect(bindings[0]!.sourcePort).toBe(alice.socket.localPort);
    expect(await edge.metric('sipedge_registrations_active')).toBe(1);
  });

  it('drops a SIP.js outbound binding (reg-id, +sip.instance) as soon as its WebSocket closes', async () => {
    await setup();
    const bob = sipjs('bob', '1002', PW, { regId: 1 });
    expect(await bob.start(), bob.wire()).toEqual({ status: 200, state: RegistererState.Registered });
    const bindings = await bindingsOf('1002@acme');
    expect(bindings).toHaveLength(1);
    expect(bindings[0]).toMatchObject({ regId: 1, instanceId: `<urn:uuid:${bob.ua.instanceId}>`, transport: 'ws', isFlowBound: true });
    // RFC 5626 §6: the registrar tells the phone it applied outbound.
    expect(bob.socket.received.at(-1), bob.wire()).toMatch(/^SIP\/2\.0 200 [^]*\r\nRequire: outbound\r\n/);
    await bob.ua.transport.disconnect(); // the app drops the connection without unregistering
    expect(await eventually(async () => (await bindingsOf('1002@acme')).length === 0), `binding still held after the close\n${bob.wire()}`).toBe(true);
    expect(unregisters(bob.socket.sent)).toEqual([]);
    expect(await edge.metric('sipedge_registrations_active')).toBe(0);
  });
});
