// Real SIP clients register over TLS against a real `sipedge start` with its self-signed certificate, each checking
// that certificate: SIPp (through a socat TLS client: Debian's SIPp 3.6.1 is built without OpenSSL, `-t l1` only says
// "To use a TLS transport you must compile SIPp with OpenSSL"), sipsak and linphonec (Debian linphone-cli).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canConnect, freeTcpPort, startEdge, type RunningEdge } from '../../load-tests/lib/edge-process.ts';
import { metricValue } from '../../load-tests/lib/metrics-text.ts';
import { writeUserFiles, type UserFiles } from '../../load-tests/lib/users.ts';
import { describeSipp, runSipp } from '../../load-tests/lib/sipp.ts';

// The tenant's domain is `localhost`: sipsak resolves the domain it registers at, and linphone (belle-sip on mbedTLS)
// checks a server certificate against DNS names only, so clients reach the edge as localhost (a name the
// self-signed certificate carries) rather than 127.0.0.1.
const TENANT = { code: 'lh', domain: 'localhost' };
const PHONES = 20;

interface Run {
  code: number | null;
  out: string;
}

/** Runs a command with stdin lines sent at the given delays (ms from start); resolves when it exits or is killed. */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: [number, string][]; timeoutMs: number; cwd?: string }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (out += String(d)));
    const timers = (opts.input ?? []).map(([at, line]) => setTimeout(() => child.stdin.write(`${line}\n`), at));
    const kill = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      for (const t of [...timers, kill]) clearTimeout(t);
      resolve({ code, out });
    });
  });
}

describe('SIP clients registering over TLS', () => {
  let dir: string;
  let users: UserFiles;
  let edge: RunningEdge;
  let ca: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sipedge-e2e-tls-'));
    users = writeUserFiles({ count: PHONES, tenant: TENANT.code, domain: TENANT.domain, outDir: dir });
    edge = await startEdge({ tenants: [TENANT], importCsv: users.importCsv, tls: true });
    ca = join(edge.dataDir, 'tls', 'self-signed-cert.pem');
  }, 90_000);

  afterAll(async () => {
    await edge?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers 20 SIPp phones over one TLS connection (SIPp on TCP into a socat TLS client that checks the certificate)', async () => {
    const port = await freeTcpPort();
    const bridge: ChildProcess = spawn('socat', [
      `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`,
      `OPENSSL:localhost:${edge.tlsPort},cafile=${ca},verify=1`,
    ]);
    let bridgeErr = '';
    bridge.stderr!.on('data', (d) => (bridgeErr += String(d)));
    try {
      for (let i = 0; i < 100 && !(await canConnect(port)); i++) await new Promise((r) => setTimeout(r, 50));
      const before = metricValue(await edge.metrics(), 'sipedge_sip_messages_total', { transport: 'tls', kind: 'request' });
      const r = await runSipp({
        scenario: 'load-tests/sipp/register-auth.xml',
        target: `127.0.0.1:${port}`,
        inf: users.sippCsv,
        calls: PHONES,
        rate: 20,
        transport: 't1',
        authUri: TENANT.domain,
        timeoutMs: 30_000,
      });
      expect(r.exitCode, `${describeSipp(r)}\nsocat: ${bridgeErr}`).toBe(0);
      expect(r.successful).toBe(PHONES);
      const metrics = await edge.metrics();
      // Every REGISTER (two per phone) reached the edge over TLS, on one connection.
      expect(metricValue(metrics, 'sipedge_sip_messages_total', { transport: 'tls', kind: 'request' }) - before).toBe(2 * PHONES);
      expect(metricValue(metrics, 'sipedge_tls_handshake_failures_total', { transport: 'tls' })).toBe(0);
    } finally {
      bridge.kill();
    }
  }, 60_000);

  it('registers sipsak over TLS, checking the certificate against the edge as its CA', async () => {
    const u = users.users[0]!;
    // sipsak 0.9.8.1 cannot read a SIP message after TLS 1.3 session tickets ("nothing received, select returned
    // error"); GnuTLS's priority file keeps this one client on TLS 1.2, which the edge accepts as well.
    const gnutls = join(dir, 'gnutls-tls12.cfg');
    writeFileSync(gnutls, '[overrides]\ndisabled-version = tls1.3\n');
    const r = await run(
      'sipsak',
      ['-U', '-i', '-u', u.extension, '-C', `sip:${u.extension}@127.0.0.1`, '-s', `sip:${u.extension}@localhost`, '--remote-port', String(edge.tlsPort), '--transport', 'tls', '-a', u.password, '--tls-ca-cert', ca, '-x', '600', '-vv'],
      { env: { GNUTLS_SYSTEM_PRIORITY_FILE: gnutls }, timeoutMs: 30_000 },
    );
    expect(r.out, r.out).toContain('All usrloc tests completed successful');
    expect(r.code, r.out).toBe(0);
  }, 60_000);

  it('registers linphonec over TLS with server certificate and name checks on', async () => {
    const u = users.users[1]!;
    const home = join(dir, 'linphone-home');
    // Without its database directory liblinphone's core never starts (and so never registers).
    mkdirSync(join(home, '.local', 'share', 'linphone'), { recursive: true });
    const rc = join(dir, 'linphonerc');
    writeFileSync(
      rc,
      [
        '[sip]',
        'sip_port=0',
        'sip_tcp_port=0',
        'sip_tls_port=-1',
        `root_ca=${ca}`,
        'verify_server_certs=1',
        'verify_server_cn=1',
        'default_proxy=0',
        '[auth_info_0]',
        `username=${u.extension}`,
        `passwd=${u.password}`,
        `realm=${TENANT.domain}`,
        `domain=${TENANT.domain}`,
        '[proxy_0]',
        `reg_proxy=<sip:localhost:${edge.tlsPort};transport=tls>`,
        `reg_identity=sip:${u.extension}@${TENANT.domain}`,
        'reg_expires=600',
        'reg_sendregister=1',
        '',
      ].join('\n'),
    );
    const log = join(dir, 'linphonec.log');
    // linphonec reads commands from stdin: ask for the registration state once it had time to register, then quit.
    const r = await run('linphonec', ['-c', rc, '-d', '6', '-l', log], {
      env: { HOME: home },
      input: [
        [6000, 'status register'],
        [7000, 'quit'],
      ],
      timeoutMs: 30_000,
    });
    const trace = readFileSync(log, 'latin1');
    expect(r.out, trace.split('\n').filter((l) => /SSL|REGISTER|SIP\/2\.0 \d|state \[/.test(l)).join('\n')).toContain(`registered, identity=sip:${u.extension}@${TENANT.domain}`);
    expect(trace).toMatch(/SSL handshake finished/);
  }, 60_000);
});
