// baresip 1.0 (Debian baresip-core) registers with the edge's default config over UDP and TCP. It refuses a whole
// challenge set that names an algorithm it does not know (SHA-256), so the default auth.challengePolicy offers it MD5
// only; without that rule it never answers, which the last story shows. JsSIP, SIP.js, SIPp and linphonec register with
// the defaults in softphones.test.ts, sipp-register.test.ts and tls-clients.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import { NextMatch } from '../helpers/next-match.ts';

const DOMAIN = 'acme.example.com';
const PW = 'Correct-Horse-Battery-9';

interface Baresip {
  /** The first output line that matches; rejects after timeoutMs. */
  line(match: (l: string) => boolean, timeoutMs?: number): Promise<string>;
  exited: Promise<void>;
  output: () => string;
  stop(): Promise<void>;
}

/** baresip with one account registering through the edge on `transport`; it quits by itself after `seconds`. */
function runBaresip(edge: TestEdge, transport: 'udp' | 'tcp', seconds: number): Baresip {
  const dir = mkdtempSync(join(tmpdir(), 'sipedge-baresip-'));
  const port = transport === 'udp' ? edge.udpPort : edge.tcpPort;
  writeFileSync(
    join(dir, 'config'),
    ['sip_listen 127.0.0.1:0', 'module_path /usr/lib/baresip/modules', 'module g711.so', 'module account.so', ''].join('\n'),
  );
  writeFileSync(join(dir, 'accounts'), `<sip:1001@${DOMAIN};transport=${transport}>;auth_pass=${PW};outbound="sip:127.0.0.1:${port};transport=${transport}";regint=600\n`);
  const lines: string[] = [];
  const next = new NextMatch<string>();
  const child: ChildProcess = spawn('baresip', ['-f', dir, '-t', String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const feed = (d: Buffer) => {
    for (const l of d.toString('utf8').split('\n')) {
      lines.push(l);
      next.feed(l);
    }
  };
  child.stdout!.on('data', feed);
  child.stderr!.on('data', feed);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    line: (match, timeoutMs = 20_000) => {
      const seen = lines.find(match);
      return seen !== undefined ? Promise.resolve(seen) : next.next(match, timeoutMs, 'baresip output line');
    },
    exited,
    output: () => lines.join('\n'),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('baresip registering with the defaults', () => {
  let edge: TestEdge | undefined;
  let phone: Baresip | undefined;
  afterEach(async () => {
    await phone?.stop();
    await edge?.stop();
  });

  async function setup(overrides = {}): Promise<TestEdge> {
    edge = await startEdge({ overrides });
    await edge.cli(async (p) => {
      await p.addTenant('acme', DOMAIN);
      await p.addExtension({ ext: '1001', tenant: 'acme' }, { password: PW });
    });
    expect(await eventually(async () => !!(await edge!.app.stores.accounts.getExtension('acme', '1001')))).toBe(true);
    return edge;
  }

  for (const transport of ['udp', 'tcp'] as const) {
    it(`registers over ${transport.toUpperCase()}: offered MD5 only, and the edge holds its binding`, async () => {
      const e = await setup();
      phone = runBaresip(e, transport, 60);
      expect(await phone.line((l) => /1001@acme\.example\.com: .*\b200 OK\b/.test(l)), phone.output()).toMatch(new RegExp(`${transport.toUpperCase()}`));
      const bindings = (await e.app.stores.bindings.get('1001@acme', Date.now())).bindings;
      expect(bindings).toHaveLength(1);
      expect(bindings[0]).toMatchObject({ transport });
      expect(bindings[0]!.userAgent).toMatch(/^baresip/);
      expect(await e.metric('sipedge_auth_successes_total', { algorithm: 'MD5' })).toBe(1);
    });
  }

  it('cannot register when the challenge names SHA-256 too (no challenge rule): it never answers', async () => {
    const e = await setup({ auth: { challengePolicy: [] } });
    phone = runBaresip(e, 'udp', 5);
    await phone.exited;
    expect(phone.output()).not.toMatch(/200 OK/);
    expect(await e.metric('sipedge_auth_successes_total')).toBe(0);
    expect((await e.app.stores.bindings.get('1001@acme', Date.now())).bindings).toEqual([]);
  });
});
