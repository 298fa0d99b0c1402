// Provisioning a real softphone: Linphone's console client (Debian linphone-cli) is pointed at the one-time
// `https://…/provision/<token>.xml` URL a user gets when regenerating their VoIP password, fetches it by its own remote
// provisioning ([misc] config-uri), and registers through the edge with what it read. The URL works once.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/edge.ts';
import { LOGIN, startPortalEdge, testCertificate, type PortalEdge } from '../helpers/browser.ts';
import { Client } from '../gateway/api.ts';

/**
 * linphonec with its own home and a linphonerc that only names the provisioning URL, the CA to trust for it (the
 * test's self-signed certificate; linphone checks the name, so the URL says localhost) and random local ports.
 */
function startLinphonec(configUri: string, caFile: string): { proc: ChildProcess; output: () => string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sipedge-linphone-'));
  // liblinphone does not start its core without a directory for its database.
  mkdirSync(join(dir, '.local/share/linphone'), { recursive: true });
  const rc = join(dir, 'linphonerc');
  writeFileSync(rc, `[misc]\nconfig-uri=${configUri}\n[sip]\nsip_port=-1\nsip_tcp_port=-1\nroot_ca=${caFile}\n[rtp]\naudio_rtp_port=-1\n`);
  const proc = spawn('linphonec', ['-c', rc], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HOME: dir } });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, output: () => out, dir };
}

describe('Linphone remote provisioning', () => {
  let pe: PortalEdge | undefined;
  let lin: ReturnType<typeof startLinphonec> | undefined;

  afterEach(async () => {
    if (lin) {
      lin.proc.stdin!.write('quit\n');
      const exited = await eventually(() => lin!.proc.exitCode !== null, 5000);
      if (!exited) lin.proc.kill('SIGKILL');
      rmSync(lin.dir, { recursive: true, force: true });
      lin = undefined;
    }
    await pe?.stop();
    pe = undefined;
  });

  it('linphonec fetches the XML over HTTPS from the URL of a regenerated VoIP password, registers through the edge over TCP, and the URL is spent', async () => {
    pe = await startPortalEdge({}, 'localhost');
    const user = new Client(pe.edge.httpPort);
    expect((await user.login('1001-acme', LOGIN.alice)).status).toBe(200);
    const r = await user.post('/api/voip/sip-password', {});
    expect(r.status).toBe(200);
    const url: string = r.body.linphone.url;
    expect(url).toMatch(new RegExp(`^https://localhost:${pe.edge.httpsPort}/provision/[A-Za-z0-9_-]{43}\\.xml$`));

    lin = startLinphonec(url, (await testCertificate()).certFile);
    const bound = await eventually(async () => {
      const b = await pe!.edge.app.stores.bindings.get('1001@acme', Date.now());
      return b.bindings.some((x) => x.transport === 'tcp' && /Linphone/i.test(x.userAgent ?? ''));
    }, 20_000, 100);
    expect(bound, lin.output()).toBe(true);
    expect(pe.edge.logs.some((l) => l.includes('"event":"gateway.provisioning.redeemed"') && l.includes('"format":"linphone"'))).toBe(true);
    // Registered with the password it read: the edge counted a digest success, not a failure.
    expect(await pe.edge.metric('sipedge_auth_successes_total')).toBeGreaterThan(0);
    expect(await pe.edge.metric('sipedge_auth_failures_total', { reason: 'bad-password' })).toBe(0);

    // Once: the token is gone, a second fetch (or a leaked URL) gets nothing.
    const again = await pe.https().get(new URL(url).pathname);
    expect(again.status).toBe(400);
    expect(JSON.stringify(again.body)).not.toContain('auth_info');
  });

  it('answers linphonerc XML naming the edge as registrar and outbound proxy, with the password shown in the page, and no-store', async () => {
    pe = await startPortalEdge();
    const user = pe.https();
    await user.login('1002-acme', LOGIN.bob);
    const r = await user.post('/api/voip/sip-password', {});
    const res = await pe.https().get(new URL(r.body.linphone.url).pathname);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/xml/);
    expect(res.headers['cache-control']).toBe('no-store');
    const xml = res.body as string;
    const tcp = `127.0.0.1:${pe.edge.tcpPort}`;
    expect(xml).toContain('<config xmlns="http://www.linphone.org/xsds/lpconfig.xsd"');
    expect(xml).toContain(`<entry name="reg_identity" overwrite="true">&quot;1002&quot; &lt;sip:1002@acme.example.com&gt;</entry>`);
    expect(xml).toContain(`<entry name="reg_proxy" overwrite="true">&lt;sip:${tcp};transport=tcp&gt;</entry>`);
    expect(xml).toContain(`<entry name="reg_route" overwrite="true">&lt;sip:${tcp};transport=tcp;lr&gt;</entry>`);
    expect(xml).toContain(`<entry name="passwd" overwrite="true">${r.body.voipPassword}</entry>`);
    expect(xml).toContain('<entry name="realm" overwrite="true">acme.example.com</entry>');
    // A malformed name is refused by the schema, not looked up.
    expect((await pe.https().get('/provision/short.xml')).status).toBe(400);
  });

  it('refuses a provisioning URL whose password was rotated again since', async () => {
    pe = await startPortalEdge();
    const user = new Client(pe.edge.httpPort);
    await user.login('1002-acme', LOGIN.bob);
    const first = await user.post('/api/voip/sip-password', {});
    await user.post('/api/voip/sip-password', {});
    const res = await pe.https().get(new URL(first.body.linphone.url).pathname);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('SIPEDGE_ERR_API_TOKEN_INVALID');
  });
});
