// The operator's `sipedge` command, run as a real child process: help, provisioning, CSV import that is all or
// nothing, config errors that name the key, and `start` stopping cleanly on SIGTERM.
//
// The children run bin/sipedge.js, which runs the built dist/ (the test setup rebuilds it when src/ changed): the code
// users run, including the build. A child that opens the store costs ~0.5 s of CPU; on two cores shared with other
// test runs a story of several commands can still outlast the suite's 30 s default without anything being wrong.
// These stories get 120 s instead, a safety net only: a wrong answer fails at once, a hung child is killed after 60 s.
// The per-command help texts are read in process (the same main() the binary runs), beside one real `--help`.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import dgram from 'node:dgram';
import net from 'node:net';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { IO_SWITCHES } from '../../src/config/io-switches.ts';
import { generateSelfSigned } from '../../src/transport/certificates.ts';
import { eventually } from '../helpers/edge.ts';
import { NextMatch } from '../helpers/next-match.ts';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;

function sipedge(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/sipedge.js', ...args],
      { env: { ...process.env, SIPEDGE_DATA_DIR: dir, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}

/** main() in this process, as bin/sipedge.js calls it: exit code and what it printed. */
async function inProcess(args: string[]): Promise<Result> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sipedge-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('sipedge CLI', { timeout: 120_000 }, () => {
  it('prints help for every command', async () => {
    const top = await sipedge(['--help']);
    expect(top.code).toBe(0);
    const commands = ['start', 'tenant add', 'import', 'ext add', 'ext rotate', 'ext unlock', 'unban', 'ext show', 'ext login-password', 'ext role', 'ext reset-2fa', 'demo', 'moh upload', 'moh status', 'upstream status', 'health', 'nodes'];
    for (const c of commands) expect(top.stdout).toContain(`sipedge ${c}`);
    for (const c of commands) {
      const r = await inProcess([...c.split(' '), '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout).toContain(`usage: sipedge ${c}`);
    }
  });

  it('creates the demo tenant once: two VoIP passwords and a tenant-admin login for 1001, printed only the first time', async () => {
    const first = await sipedge(['demo']);
    expect(first.code).toBe(0);
    const voip = [...first.stdout.matchAll(/demo extension (\d+)@demo\.sipedge\.test +username \d+ +VoIP password (\S+)/g)];
    expect(voip.map((m) => m[1])).toEqual(['1001', '1002']);
    for (const m of voip) expect(m[2]!.length).toBeGreaterThanOrEqual(20);
    const login = /demo gateway login 1001-demo \(tenant admin\) +login password (\S+)/.exec(first.stdout);
    expect(login).not.toBeNull();
    const again = await sipedge(['demo']);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('password');
    const { openStores } = await import('../../src/store/open.ts');
    const { systemClock } = await import('../../src/clock.ts');
    const { LoginHasher } = await import('../../src/auth/login-password.ts');
    const stores = await openStores({ store: 'memory', dataDir: dir, redis: { url: 'redis://unused', keyPrefix: '' } }, { role: 'cli', clock: systemClock });
    try {
      const rec = await stores.logins.get('demo', '1001');
      expect(rec?.role).toBe('tenant-admin');
      expect(await new LoginHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 }).verify(rec?.passwordHash, login![1]!)).toBe(true);
    } finally {
      await stores.close();
    }
  });

  it('sets a gateway login password (generated once, or given and policy-checked), a role, and resets 2FA', async () => {
    await sipedge(['tenant', 'add', 'acme', '--domain', 'acme.example.com']);
    await sipedge(['ext', 'add', '1001@acme']);
    const gen = await sipedge(['ext', 'login-password', '1001@acme']);
    expect(gen.code).toBe(0);
    const pw = gen.stdout.trim();
    expect(pw).toMatch(/^.{16}$/);
    expect(gen.stderr).toContain('shown once');
    const weak = await sipedge(['ext', 'login-password', '1001@acme', '--password', 'short']);
    expect(weak.code).toBe(2);
    expect(weak.stderr).toContain('at least 8 characters');
    const badRole = await sipedge(['ext', 'role', '1001@acme', 'root']);
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain('user, tenant-admin, operator');
    expect((await sipedge(['ext', 'role', '1001@acme', 'operator'])).code).toBe(0);
    expect((await sipedge(['ext', 'reset-2fa', '1001@acme'])).stdout).toContain('2FA of 1001@acme reset');
    expect((await sipedge(['ext', 'reset-2fa', '1999@acme'])).stderr).toContain('SIPEDGE_ERR_EXTENSION_UNKNOWN');
    const { openStores } = await import('../../src/store/open.ts');
    const { systemClock } = await import('../../src/clock.ts');
    const { LoginHasher } = await import('../../src/auth/login-password.ts');
    const stores = await openStores({ store: 'memory', dataDir: dir, redis: { url: 'redis://unused', keyPrefix: '' } }, { role: 'cli', clock: systemClock });
    try {
      const rec = await stores.logins.get('acme', '1001');
      expect(rec?.role).toBe('operator');
      expect(rec?.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      const hasher = new LoginHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
      expect(await hasher.verify(rec?.passwordHash, pw)).toBe(true);
    } finally {
      await stores.close();
    }
  });

  it('names the problem for an unknown command, a missing option and a bad extension reference', async () => {
    const unknown = await sipedge(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const noDomain = await sipedge(['tenant', 'add', 'acme']);
    expect(noDomain.code).toBe(2);
    expect(noDomain.stderr).toContain('--domain');
    const badRef = await sipedge(['ext', 'show', '1001']);
    expect(badRef.code).toBe(2);
    expect(badRef.stderr).toContain('EXTENSION@TENANT');
    const badAddress = await inProcess(['unban', '10.0.0.300']);
    expect(badAddress.code).toBe(2);
    expect(badAddress.stderr).toContain('"10.0.0.300" is not an IPv4 or IPv6 address');
  });

  it('adds a tenant once and refuses the same code again', async () => {
    expect((await sipedge(['tenant', 'add', 'acme', '--domain', 'acme.example.com'])).code).toBe(0);
    const again = await sipedge(['tenant', 'add', 'acme', '--domain', 'other.example.com']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('SIPEDGE_ERR_TENANT_EXISTS');
    const badDomain = await sipedge(['tenant', 'add', 'beta', '--domain', 'not a domain']);
    expect(badDomain.code).toBe(2);
    expect(badDomain.stderr).toContain('not a valid domain');
  });

  it('reports every bad CSV row by line number and imports nothing from that file', async () => {
    await sipedge(['tenant', 'add', 'acme', '--domain', 'acme.example.com']);
    const csv = [
      'tenant,extension,voip_password,email',
      'acme,1001,Good-Password-1,alice@example.com',
      'nosuch,1002,Good-Password-2,',
      'acme,1001,Good-Password-3,',
      'acme,1004,,',
      'acme,1005,Good-Password-5,not-an-email',
    ].join('\n');
    writeFileSync(join(dir, 'bad.csv'), csv);
    const r = await sipedge(['import', join(dir, 'bad.csv')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('line 3: unknown tenant "nosuch"');
    expect(r.stderr).toContain('line 4: duplicate of line 2');
    expect(r.stderr).toContain('line 5: voip_password is empty');
    expect(r.stderr).toContain('line 6: email "not-an-email"');
    const show = await sipedge(['ext', 'show', '1001@acme']);
    expect(show.code).toBe(1);
    expect(show.stderr).toContain('unknown extension 1001@acme');
  });

  it('imports 10,000 extensions in one run and shows them without any password', async () => {
    await sipedge(['tenant', 'add', 'acme', '--domain', 'acme.example.com']);
    const lines = ['tenant,extension,voip_password'];
    for (let i = 0; i < 10_000; i++) lines.push(`acme,${10000 + i},Secret-Pass-${i}-xyz`);
    writeFileSync(join(dir, 'big.csv'), lines.join('\r\n') + '\r\n');
    const r = await sipedge(['import', join(dir, 'big.csv')]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('imported 10000 extensions (10000 created, 0 updated)');
    const show = await sipedge(['ext', 'show', '19999@acme']);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/extension\s+19999/);
    expect(show.stdout).not.toContain('Secret-Pass-9999-xyz');
    const update = await sipedge(['import', join(dir, 'big.csv')]);
    expect(update.stdout).toContain('(0 created, 10000 updated)');
  });

  it('prints a rotated password once, at least 20 characters, different each time', async () => {
    await sipedge(['tenant', 'add', 'acme', '--domain', 'acme.example.com']);
    const add = await sipedge(['ext', 'add', '1001@acme']);
    expect(add.code).toBe(0);
    const a = await sipedge(['ext', 'rotate', '1001@acme', '--grace', '10m']);
    const b = await sipedge(['ext', 'rotate', '1001@acme']);
    expect(a.stdout.trim()).toMatch(/^\S{20,}$/);
    expect(b.stdout.trim()).not.toBe(a.stdout.trim());
    const badGrace = await sipedge(['ext', 'rotate', '1001@acme', '--grace', 'soon']);
    expect(badGrace.code).toBe(2);
    expect(badGrace.stderr).toContain('--grace "soon" is not a duration');
  });

  it('refuses a bad config value with one line naming the key', async () => {
    const r = await sipedge(['start'], { SIPEDGE_SIP_UDP: '0.0.0.0:5o60' });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('sip.udp');
    expect(lines[0]).toContain('SIPEDGE_ERR_CONFIG_INVALID');
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ registrar: { minExpires: 'soon' } }));
    const f = await sipedge(['--config', file, 'tenant', 'list']);
    expect(f.stderr.trim()).toMatch(/^sipedge: config: registrar\.minExpires "soon": .*SIPEDGE_ERR_CONFIG_INVALID\)$/);
  });

  it('refuses a config with several problems with one line each, and an unknown key by name with the nearest one', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ registrar: { minExpires: 900, maxExpires: 300 }, sip: { udpp: '0.0.0.0:5060' } }));
    const r = await sipedge(['--config', file, 'tenant', 'list'], { SIPEDGE_HTTP: '0.0.0.0:99999' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').sort()).toEqual([
      'sipedge: config: http.listen "0.0.0.0:99999" (from SIPEDGE_HTTP): port 99999 is out of range (0-65535) (SIPEDGE_ERR_CONFIG_INVALID)',
      'sipedge: config: registrar.minExpires 900: must not be above registrar.maxExpires (SIPEDGE_ERR_CONFIG_INVALID)',
      'sipedge: config: sip.udpp: unknown key; did you mean sip.udp? (SIPEDGE_ERR_CONFIG_INVALID)',
    ]);
  });

  it('refuses to start on an address in use with one line naming the key and the address', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const taken = `127.0.0.1:${(holder.address() as net.AddressInfo).port}`;
    try {
      const off = { SIPEDGE_SIP_TCP: 'off', SIPEDGE_SIP_WS: 'off', SIPEDGE_SIP_TLS: 'off', SIPEDGE_SIP_WSS: 'off', SIPEDGE_HTTPS: 'off' };
      const r = await sipedge(['start'], { ...off, SIPEDGE_SIP_UDP: '127.0.0.1:0', SIPEDGE_HTTP: taken });
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(
        `sipedge: cannot listen on http.listen ${taken}: address already in use (another process, or another listener of this config, holds it) (EADDRINUSE) (SIPEDGE_ERR_LISTEN)`,
      );
    } finally {
      holder.close();
    }
  });

  /**
   * `sipedge start` in the foreground on free loopback ports (env adds to / overrides them), once it has printed its
   * listening line. `line(re)` waits for the first whole output line matching re (stdout and stderr); `stdout()` is
   * what it wrote to stdout so far.
   */
  async function startForeground(
    env: NodeJS.ProcessEnv,
    args: string[] = [],
  ): Promise<{ line(re: RegExp): Promise<string>; stdout(): string; stop(): Promise<number | null> }> {
    const inherited: NodeJS.ProcessEnv = { ...process.env };
    delete inherited[IO_SWITCHES.nativeUdp];
    const child = spawn(process.execPath, ['bin/sipedge.js', 'start', ...args], {
      env: {
        ...inherited,
        SIPEDGE_DATA_DIR: dir,
        SIPEDGE_SIP_UDP: '127.0.0.1:0',
        SIPEDGE_SIP_TCP: '127.0.0.1:0',
        SIPEDGE_SIP_WS: '127.0.0.1:0',
        SIPEDGE_SIP_TLS: '127.0.0.1:0',
        SIPEDGE_SIP_WSS: '127.0.0.1:0',
        SIPEDGE_HTTP: '127.0.0.1:0',
        SIPEDGE_HTTPS: '127.0.0.1:0',
        SIPEDGE_LOG_LEVEL: 'warn',
        ...env,
      },
    });
    let out = '';
    const lines: string[] = [];
    const arriving = new NextMatch<string>();
    const read = (d: Buffer): void => {
      out += String(d);
      const end = out.lastIndexOf('\n');
      if (end < 0) return;
      for (const l of out.slice(0, end).split('\n')) {
        lines.push(l);
        arriving.feed(l);
      }
      out = out.slice(end + 1);
    };
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += String(d);
      read(d);
    });
    child.stderr.on('data', read);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // An edge that exits before the line comes fails the test with its output.
    const line = (re: RegExp): Promise<string> => {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      const died = exited.then((code) => Promise.reject(new Error(`sipedge start exited (${code}) without printing ${re}:\n${lines.join('\n')}${out}`)));
      return Promise.race([arriving.next((l) => re.test(l), 60_000, `line ${re}`), died]);
    };
    await line(/sipedge listening/);
    return {
      line,
      stdout: () => stdout,
      stop() {
        child.kill('SIGTERM');
        return exited;
      },
    };
  }

  it('refuses to start with a certificate file that is not there or a key that is not its own: one line naming the file', async () => {
    const listen = { SIPEDGE_SIP_UDP: '127.0.0.1:0', SIPEDGE_SIP_TCP: 'off', SIPEDGE_SIP_WS: 'off', SIPEDGE_SIP_TLS: '127.0.0.1:0', SIPEDGE_SIP_WSS: 'off', SIPEDGE_HTTP: 'off', SIPEDGE_HTTPS: 'off' };
    const missing = await sipedge(['start'], { ...listen, SIPEDGE_TLS__CERT_FILE: join(dir, 'nope.pem'), SIPEDGE_TLS__KEY_FILE: join(dir, 'nope.key') });
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toEqual([`sipedge: tls: tls.certFile ${join(dir, 'nope.pem')}: does not exist (SIPEDGE_ERR_TLS_CERT)`]);
    const a = await generateSelfSigned(['a.example'], Date.now());
    const b = await generateSelfSigned(['b.example'], Date.now());
    writeFileSync(join(dir, 'a.pem'), a.cert);
    writeFileSync(join(dir, 'b.key'), b.key);
    const foreign = await sipedge(['start'], { ...listen, SIPEDGE_TLS__CERT_FILE: join(dir, 'a.pem'), SIPEDGE_TLS__KEY_FILE: join(dir, 'b.key') });
    expect(foreign.code).toBe(1);
    expect(foreign.stderr.trim().split('\n')).toHaveLength(1);
    expect(foreign.stderr).toMatch(new RegExp(`^sipedge: tls: tls\\.keyFile ${join(dir, 'b.key')} is not the key of the certificate in tls\\.certFile .*\\(SIPEDGE_ERR_TLS_MISMATCH\\)\\n$`));
  });

  it('starts in the foreground and exits 0 on SIGTERM', async () => {
    const edge = await startForeground({});
    const listening = await edge.line(/sipedge listening/);
    // The self-signed certificate made on this first start, and its fingerprint for users to compare.
    expect(await edge.line(/sipedge TLS certificate/)).toMatch(
      /sipedge TLS certificate \(self-signed, .*self-signed-cert\.pem\): SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}/,
    );
    const http = /http 127\.0\.0\.1:(\d+)/.exec(listening)![1];
    expect((await fetch(`http://127.0.0.1:${http}/healthz`)).status).toBe(200);
    // The container health check asks the configured HTTP address.
    const health = await sipedge(['health'], { SIPEDGE_HTTP: `127.0.0.1:${http}` });
    expect(health).toMatchObject({ code: 0, stdout: `ok http://127.0.0.1:${http}/healthz\n` });
    expect(await edge.stop()).toBe(0);
    const down = await sipedge(['health'], { SIPEDGE_HTTP: `127.0.0.1:${http}` });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`sipedge: health: http://127.0.0.1:${http}/healthz: `);
  });

  it('runs a local rtpengine beside itself with --local-rtpengine (none configured): says where, pings it up, and it ends with the edge', async () => {
    const edge = await startForeground({ SIPEDGE_SIP_TCP: 'off', SIPEDGE_SIP_WS: 'off', SIPEDGE_SIP_TLS: 'off', SIPEDGE_SIP_WSS: 'off', SIPEDGE_HTTPS: 'off' }, ['--local-rtpengine']);
    const said = await edge.line(/sipedge media relay/);
    const m = /local rtpengine \(pid (\d+)\) on (udp:127\.0\.0\.1:\d+), media on \S+ ports 16000-19999$/.exec(said);
    expect(m, said).not.toBeNull();
    const pid = Number(m![1]);
    const http = /http 127\.0\.0\.1:(\d+)/.exec(await edge.line(/sipedge listening/))![1];
    const up = async (): Promise<string> => (await (await fetch(`http://127.0.0.1:${http}/metrics`)).text()).split('\n').find((l) => l.startsWith('sipedge_rtpengine_up{')) ?? '';
    expect(await eventually(async () => (await up()) === `sipedge_rtpengine_up{rtpengine="${m![2]}"} 1`, 10_000)).toBe(true);
    expect(await edge.stop()).toBe(0);
    expect(await eventually(() => !existsSync(`/proc/${pid}`), 10_000)).toBe(true);
  });

  it.each([
    ['native', {}],
    ['dgram', { [IO_SWITCHES.nativeUdp]: '0' }],
  ] as const)('starts with %s UDP I/O and says so in its listening line, with the reason when not native', async (io, extra) => {
    const edge = await startForeground({ ...extra, SIPEDGE_SIP_TCP: 'off', SIPEDGE_SIP_WS: 'off', SIPEDGE_LOG_LEVEL: 'info' });
    const line = JSON.parse(await edge.line(/"transport\.listening"/)) as Record<string, unknown>;
    expect(line.udpIo).toBe(io);
    expect(line.udpIoReason).toBe(io === 'dgram' ? 'disabled by SIPEDGE_NATIVE_UDP=0' : undefined);
    expect(await edge.stop()).toBe(0);
  });

  it("lifts a running edge's flood ban with `sipedge unban ADDRESS`", async () => {
    const config = join(dir, 'flood.json');
    writeFileSync(config, JSON.stringify({ flood: { udp: { rate: 1, burst: 2 }, banDrops: 5, banSeconds: 600 } }));
    const edge = await startForeground({ SIPEDGE_CONFIG: config, SIPEDGE_SIP_TCP: 'off', SIPEDGE_SIP_WS: 'off', SIPEDGE_LOG_LEVEL: 'info' });
    const listening = await edge.line(/sipedge listening/);
    const udp = Number(/udp 127\.0\.0\.1:(\d+)/.exec(listening)![1]);
    const http = /http 127\.0\.0\.1:(\d+)/.exec(listening)![1];
    const metric = async (name: string): Promise<number> =>
      (await (await fetch(`http://127.0.0.1:${http}/metrics`)).text())
        .split('\n')
        .filter((l) => l.startsWith(name))
        .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    // A source of its own on loopback, answered (or not) by the edge.
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.77', resolve));
    const answers = new NextMatch<string>();
    socket.on('message', (m) => answers.feed(String(m)));
    let n = 0;
    const options = (): void => {
      n++;
      const msg = [
        `OPTIONS sip:127.0.0.1:${udp} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.77:${socket.address().port};branch=z9hG4bK-unban-${n}`,
        'Max-Forwards: 70',
        'From: <sip:probe@example.com>;tag=u1',
        'To: <sip:127.0.0.1>',
        'Call-ID: unban-test',
        `CSeq: ${n} OPTIONS`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      socket.send(msg, udp, '127.0.0.1');
    };
    try {
      for (let i = 0; i < 30; i++) options();
      expect(await eventually(async () => (await metric('sipedge_flood_bans_total')) === 1, 10_000)).toBe(true);
      // Banned: what it sends now is dropped before parsing.
      const bannedDrops = await metric('sipedge_flood_dropped_total{transport="udp",reason="banned"}');
      options();
      expect(await eventually(async () => (await metric('sipedge_flood_dropped_total{transport="udp",reason="banned"}')) > bannedDrops, 10_000)).toBe(true);

      const r = await sipedge(['unban', '127.0.0.77'], { SIPEDGE_CONFIG: config });
      expect(r).toMatchObject({ code: 0, stdout: '127.0.0.77 unbanned\n' });
      expect(JSON.parse(await edge.line(/"source\.unbanned"/))).toMatchObject({ source: '127.0.0.77' });
      // Answered again once its bucket has a token (1/s).
      const answered = answers.next((m) => m.startsWith('SIP/2.0 ') && m.includes('unban-test'), 30_000, 'an answer to OPTIONS');
      const poke = setInterval(options, 500);
      try {
        await answered;
      } finally {
        clearInterval(poke);
      }
    } finally {
      socket.close();
      expect(await edge.stop()).toBe(0);
    }
  });

  it('writes only JSON lines to stdout (jq reads every line); the listening and certificate lines go to stderr', async () => {
    const edge = await startForeground({ SIPEDGE_LOG_LEVEL: 'info' });
    await edge.line(/sipedge TLS certificate/);
    expect(await edge.stop()).toBe(0);
    const lines = edge.stdout().split('\n').filter((l) => l !== '');
    expect(lines.map((l) => (JSON.parse(l) as { event?: string }).event)).toEqual(expect.arrayContaining(['transport.listening', 'edge.signal']));
    expect(edge.stdout()).not.toContain('sipedge listening');
  });
});
