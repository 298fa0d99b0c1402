// The edge's TLS certificate as an operator meets it: the self-signed default (made once, kept, its fingerprint logged),
// one-line refusals of bad files, and renewals (certbot's symlink swap) picked up by a running TLS listener while a
// renewal that does not load keeps the old certificate. Real files in a temp dir, real TLS sockets on loopback.
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../src/config/schema.ts';
import type { SipedgeError } from '../../src/errors.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { Certificates, generateSelfSigned, loadUpstreamCa, type TlsCredentials } from '../../src/transport/certificates.ts';
import { RecordingHandler, sipConfig, until } from './peers.ts';
import { TransportLayer } from '../../src/transport/transport-layer.ts';

const dirs: string[] = [];
const closers: (() => unknown)[] = [];

afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sipedge-certs-'));
  dirs.push(d);
  return d;
}

function capture(): { logger: pino.Logger; events: Record<string, unknown>[] } {
  const events: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) events.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), events };
}

function tlsConfig(over: Partial<Config['tls']> = {}): Config['tls'] {
  return configSchema.parse({ tls: over }).tls;
}

async function open(over: Partial<Config['tls']>, dataDir = tempDir(), names = ['127.0.0.1', 'localhost']) {
  const log = capture();
  const metrics = new Metrics();
  const certs = await Certificates.open({ tls: tlsConfig(over), dataDir, names, mustCover: names[0]!, logger: log.logger, metrics });
  closers.push(() => certs.close());
  return { certs, log, metrics, dataDir };
}

async function errorOf(p: Promise<unknown>): Promise<SipedgeError> {
  try {
    await p;
  } catch (e) {
    return e as SipedgeError;
  }
  throw new Error('expected the start to be refused');
}

const fingerprintOf = (c: TlsCredentials) => new X509Certificate(c.cert).fingerprint256;

/** Writes a pair as certbot lays it out: live/<name>/{fullchain,privkey}.pem symlinks into archive/<name>/. */
function certbotLayout(root: string, version: number, pair: TlsCredentials): { cert: string; key: string } {
  const archive = join(root, 'archive');
  const live = join(root, 'live');
  mkdirSync(archive, { recursive: true });
  mkdirSync(live, { recursive: true });
  writeFileSync(join(archive, `fullchain${version}.pem`), pair.cert);
  writeFileSync(join(archive, `privkey${version}.pem`), pair.key, { mode: 0o600 });
  for (const [name, target] of [['fullchain.pem', `fullchain${version}.pem`], ['privkey.pem', `privkey${version}.pem`]] as const) {
    // certbot replaces each symlink atomically: a new link beside it, renamed over the old one.
    symlinkSync(join('..', 'archive', target), join(live, `${name}.new`));
    renameSync(join(live, `${name}.new`), join(live, name));
  }
  return { cert: join(live, 'fullchain.pem'), key: join(live, 'privkey.pem') };
}

/** The fingerprint a TLS client sees on port. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.destroy();
    });
    s.once('error', reject);
  });
}

describe('TLS certificate', () => {
  it('makes a self-signed certificate on the first start (key readable by the owner only), logs its fingerprint, and keeps it', async () => {
    const first = await open({}, tempDir(), ['sip.example.net', '127.0.0.1', 'localhost']);
    const certFile = join(first.dataDir, 'tls', 'self-signed-cert.pem');
    const keyFile = join(first.dataDir, 'tls', 'self-signed-key.pem');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const x = new X509Certificate(readFileSync(certFile));
    expect(x.subjectAltName).toBe('DNS:sip.example.net, IP Address:127.0.0.1, DNS:localhost');
    expect(x.checkHost('sip.example.net')).toBe('sip.example.net');
    expect(first.certs.source).toBe('self-signed');
    const logged = first.log.events.find((e) => e.event === 'tls.self_signed')!;
    expect(logged).toMatchObject({ generated: true, fingerprint256: x.fingerprint256, file: certFile });
    expect(first.certs.expirySeconds(Date.now())).toBeGreaterThan(800 * 86_400);

    const again = await open({}, first.dataDir, ['sip.example.net', '127.0.0.1', 'localhost']);
    expect(again.certs.fingerprint256).toBe(x.fingerprint256);
    expect(again.log.events.find((e) => e.event === 'tls.self_signed')).toMatchObject({ generated: false, fingerprint256: x.fingerprint256 });
  });

  it('makes a new self-signed certificate when the advertised host is not one it names', async () => {
    const first = await open({}, tempDir(), ['sip.example.net', 'localhost']);
    const moved = await open({}, first.dataDir, ['pbx.example.org', 'localhost']);
    expect(moved.certs.fingerprint256).not.toBe(first.certs.fingerprint256);
    expect(moved.log.events.find((e) => e.event === 'tls.self_signed.renew')).toMatchObject({ reason: 'it does not name pbx.example.org' });
  });

  it('refuses a missing, unreadable, non-PEM, encrypted or foreign key file with one line naming the file', async () => {
    const d = tempDir();
    const a = await generateSelfSigned(['a.example.net'], Date.now());
    const b = await generateSelfSigned(['b.example.net'], Date.now());
    writeFileSync(join(d, 'a.crt'), a.cert);
    writeFileSync(join(d, 'a.key'), a.key);
    writeFileSync(join(d, 'b.key'), b.key);
    writeFileSync(join(d, 'junk.pem'), 'hello\n');
    writeFileSync(join(d, 'enc.key'), '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n');
    mkdirSync(join(d, 'dir.pem'));
    const cases: [Partial<Config['tls']>, string, string][] = [
      [{ certFile: join(d, 'nope.crt'), keyFile: join(d, 'a.key') }, 'SIPEDGE_ERR_TLS_CERT', `tls: tls.certFile ${join(d, 'nope.crt')}: does not exist`],
      [{ certFile: join(d, 'a.crt'), keyFile: join(d, 'nope.key') }, 'SIPEDGE_ERR_TLS_KEY', `tls: tls.keyFile ${join(d, 'nope.key')}: does not exist`],
      [{ certFile: join(d, 'dir.pem'), keyFile: join(d, 'a.key') }, 'SIPEDGE_ERR_TLS_CERT', `tls: tls.certFile ${join(d, 'dir.pem')}: is a directory, not a PEM file`],
      [{ certFile: join(d, 'junk.pem'), keyFile: join(d, 'a.key') }, 'SIPEDGE_ERR_TLS_CERT', `tls: tls.certFile ${join(d, 'junk.pem')}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)`],
      [{ certFile: join(d, 'a.crt'), keyFile: join(d, 'junk.pem') }, 'SIPEDGE_ERR_TLS_KEY', `tls: tls.keyFile ${join(d, 'junk.pem')}: holds no PEM private key (-----BEGIN PRIVATE KEY-----)`],
      [{ certFile: join(d, 'a.crt'), keyFile: join(d, 'enc.key') }, 'SIPEDGE_ERR_TLS_KEY', `tls: tls.keyFile ${join(d, 'enc.key')}: is encrypted; the edge needs the key unencrypted (readable by its user only)`],
      [{ certFile: join(d, 'a.crt'), keyFile: join(d, 'b.key') }, 'SIPEDGE_ERR_TLS_MISMATCH', `tls: tls.keyFile ${join(d, 'b.key')} is not the key of the certificate in tls.certFile ${join(d, 'a.crt')}`],
    ];
    for (const [over, code, start] of cases) {
      const e = await errorOf(open(over));
      expect(e.code, start).toBe(code);
      expect(e.message.startsWith(start), e.message).toBe(true);
      expect(e.message.split('\n')).toHaveLength(1);
    }
    // Running as root reads anything; a file nobody may read is refused for everybody else.
    if (process.getuid?.() !== 0) {
      chmodSync(join(d, 'a.key'), 0);
      expect((await errorOf(open({ certFile: join(d, 'a.crt'), keyFile: join(d, 'a.key') }))).message).toContain('cannot be read (permission denied)');
    }
    expect((await errorOf(loadUpstreamCa(join(d, 'junk.pem')))).message).toBe(`tls: tls.upstreamCaFile ${join(d, 'junk.pem')}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    expect(() => configSchema.parse({ tls: { certFile: '/etc/x.pem' } })).toThrow(/set both or neither/);
  });

  it("follows a certbot renewal on a running TLS listener, and keeps the old certificate when a renewal's key does not fit", async () => {
    const root = tempDir();
    const v1 = await generateSelfSigned(['sip.example.net'], Date.now());
    const files = certbotLayout(root, 1, v1);
    const { certs, log, metrics } = await open({ certFile: files.cert, keyFile: files.key });
    expect(certs.source).toBe('configured');
    certs.watch();
    const layer = new TransportLayer({ sip: sipConfig({ tls: '127.0.0.1:0' }), handler: new RecordingHandler(), metrics, logger: log.logger, certificates: certs });
    const addrs = await layer.listen();
    closers.push(() => layer.close());
    expect(await servedFingerprint(addrs.tls!.port)).toBe(fingerprintOf(v1));

    // The renewal: new files in archive/, both symlinks swapped. The listener serves the new certificate.
    const v2 = await generateSelfSigned(['sip.example.net'], Date.now());
    certbotLayout(root, 2, v2);
    await until(() => certs.fingerprint256 === fingerprintOf(v2), 10_000);
    expect(await servedFingerprint(addrs.tls!.port)).toBe(fingerprintOf(v2));
    expect(log.events.find((e) => e.event === 'tls.reloaded')).toMatchObject({ fingerprint256: fingerprintOf(v2) });

    // A renewal whose key belongs to another certificate: logged with the reason, v2 stays.
    const v3 = await generateSelfSigned(['sip.example.net'], Date.now());
    certbotLayout(root, 3, { cert: v3.cert, key: v1.key });
    await until(() => log.events.some((e) => e.event === 'tls.reload_failed'), 10_000);
    const failed = log.events.find((e) => e.event === 'tls.reload_failed')!;
    expect(failed.code).toBe('SIPEDGE_ERR_TLS_MISMATCH');
    expect(String(failed.reason)).toContain(`tls.keyFile ${files.key} is not the key of the certificate`);
    expect(certs.fingerprint256).toBe(fingerprintOf(v2));
    expect(await servedFingerprint(addrs.tls!.port)).toBe(fingerprintOf(v2));
    const reloads = (await metrics.registry.getSingleMetric('sipedge_tls_reloads_total')!.get()).values;
    expect(Object.fromEntries(reloads.map((v) => [v.labels.result, v.value]))).toEqual({ ok: 1, failed: 1 });
  });
});
