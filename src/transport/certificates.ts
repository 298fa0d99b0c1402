// The edge's TLS certificate for sip.tls, sip.wss and http.https: PEM files from config (certificate + chain, key),
// checked to belong together, watched and reloaded (a certbot renewal), or a self-signed one kept in dataDir/tls/.
// Also the CAs trusted for TLS upstreams (tls.upstreamCaFile). Listeners apply a change themselves (setSecureContext:
// tls.ts, ws.ts, gateway/server.ts).
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { createSecureContext, rootCertificates } from 'node:tls';
import type { Config } from '../config/schema.ts';
import { SipedgeError, type ErrorCode } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';

/** What a TLS server needs: the certificate followed by its chain, and the key (PEM text). */
export interface TlsCredentials {
  readonly cert: string;
  readonly key: string;
}

/** A certificate the listeners follow: the current credentials, and a call on every successful reload. */
export interface CredentialSource {
  readonly current: TlsCredentials;
  /** Calls `fn` with the new credentials after each reload; returns the unsubscribe function. */
  onChange(fn: (c: TlsCredentials) => void): () => void;
}

/** The oldest TLS version the edge accepts or speaks (RFC 8996 deprecates 1.0 and 1.1). */
export const MIN_TLS_VERSION = 'TLSv1.2';

/** Validity of a generated self-signed certificate; days (the longest some clients accept, 825). */
const SELF_SIGNED_DAYS = 825;
/** A self-signed certificate this close to its end is replaced at start; days. */
const RENEW_BEFORE_DAYS = 30;
/** After a change event, wait this long for the other file of the pair (certbot writes several); ms. */
const SETTLE_MS = 300;
/** Files are also checked this often, for file systems whose change events do not arrive (NFS, some mounts); ms. */
const POLL_MS = 60_000;
const DAY_MS = 86_400_000;

interface Loaded {
  creds: TlsCredentials;
  leaf: X509Certificate;
}

/** A one-line operator error naming the file, the key it came from and the problem. */
function tlsError(code: ErrorCode, key: string, file: string, problem: string): SipedgeError {
  return new SipedgeError(code, `tls: ${key} ${file}: ${problem}`);
}

async function readPem(file: string, key: string, code: ErrorCode): Promise<string> {
  try {
    return await readFile(file, 'latin1');
  } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    const why = c === 'ENOENT' ? 'does not exist' : c === 'EACCES' || c === 'EPERM' ? 'cannot be read (permission denied)' : c === 'EISDIR' ? 'is a directory, not a PEM file' : `cannot be read (${c ?? String(e)})`;
    throw tlsError(code, key, file, why);
  }
}

/** Every PEM CERTIFICATE block of `text`, in order. */
function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** Parses the certificates of `text` (`key`/`file` name them in errors); the first is the leaf. */
function parseCertificates(text: string, key: string, file: string, code: ErrorCode): X509Certificate[] {
  const blocks = pemCertificates(text);
  if (blocks.length === 0) throw tlsError(code, key, file, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw tlsError(code, key, file, `certificate ${i + 1} of ${blocks.length} is damaged (${(e as Error).message})`);
    }
  });
}

function parseKey(text: string, file: string): KeyObject {
  if (text.includes('ENCRYPTED')) throw tlsError('SIPEDGE_ERR_TLS_KEY', 'tls.keyFile', file, 'is encrypted; the edge needs the key unencrypted (readable by its user only)');
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw tlsError('SIPEDGE_ERR_TLS_KEY', 'tls.keyFile', file, 'holds no PEM private key (-----BEGIN PRIVATE KEY-----)');
  try {
    return createPrivateKey(text);
  } catch (e) {
    throw tlsError('SIPEDGE_ERR_TLS_KEY', 'tls.keyFile', file, `is not a usable private key (${(e as Error).message})`);
  }
}

/**
 * Reads and checks a certificate/key pair: both files readable, PEM, the key the certificate's own, and OpenSSL willing
 * to serve them. Throws a SipedgeError (SIPEDGE_ERR_TLS_CERT, _KEY or _MISMATCH) naming the file and the problem.
 */
async function loadPair(certFile: string, keyFile: string): Promise<Loaded> {
  // Both reads run at once; when both fail, the certificate's error is the one reported (whichever read finished first).
  const [certRead, keyRead] = await Promise.allSettled([readPem(certFile, 'tls.certFile', 'SIPEDGE_ERR_TLS_CERT'), readPem(keyFile, 'tls.keyFile', 'SIPEDGE_ERR_TLS_KEY')]);
  if (certRead.status === 'rejected') throw certRead.reason;
  if (keyRead.status === 'rejected') throw keyRead.reason;
  const certText = certRead.value;
  const keyText = keyRead.value;
  const chain = parseCertificates(certText, 'tls.certFile', certFile, 'SIPEDGE_ERR_TLS_CERT');
  const key = parseKey(keyText, keyFile);
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key)) {
    throw new SipedgeError(
      'SIPEDGE_ERR_TLS_MISMATCH',
      `tls: tls.keyFile ${keyFile} is not the key of the certificate in tls.certFile ${certFile} (${leaf.subject.replace(/\n/g, ', ')}; SHA-256 ${leaf.fingerprint256})`,
    );
  }
  const creds = { cert: pemCertificates(certText).join('\n') + '\n', key: keyText };
  try {
    createSecureContext(creds);
  } catch (e) {
    throw tlsError('SIPEDGE_ERR_TLS_CERT', 'tls.certFile', certFile, `is refused by OpenSSL (${(e as Error).message})`);
  }
  return { creds, leaf };
}

/**
 * The CAs a TLS upstream's certificate may chain to: Node's public roots plus the certificates of tls.upstreamCaFile
 * (a private CA); undefined (Node's roots) when the key is empty. Throws SIPEDGE_ERR_TLS_CA naming the file.
 */
export async function loadUpstreamCa(file: string): Promise<string[] | undefined> {
  if (file === '') return undefined;
  const text = await readPem(file, 'tls.upstreamCaFile', 'SIPEDGE_ERR_TLS_CA');
  parseCertificates(text, 'tls.upstreamCaFile', file, 'SIPEDGE_ERR_TLS_CA');
  return [...rootCertificates, ...pemCertificates(text)];
}

/** Names a self-signed certificate covers: the advertised host first, then listen/interface addresses, localhost. */
export function selfSignedNames(advertisedHost: string, addresses: readonly string[]): string[] {
  const out: string[] = [];
  const add = (n: string): void => {
    const name = n.startsWith('[') ? n.slice(1, n.indexOf(']')) : n;
    if (name === '' || name.includes('%') || name === '0.0.0.0' || name === '::' || out.includes(name)) return;
    out.push(name);
  };
  add(advertisedHost);
  for (const a of addresses) add(a);
  add('localhost');
  add(hostname());
  return out;
}

export interface CertificatesOptions {
  tls: Config['tls'];
  dataDir: string;
  /** Names for a self-signed certificate (selfSignedNames); the first is its subject. */
  names: string[];
  /** A kept self-signed certificate that does not name this (sip.advertisedHost, else localhost) is made anew. */
  mustCover: string;
  logger: Logger;
  metrics?: Metrics;
  /** Wall time in ms (peers judge the certificate by theirs); default Date.now. */
  now?: () => number;
}

/** The edge's certificate: configured files (watched) or the self-signed default. */
export class Certificates implements CredentialSource {
  private loaded: Loaded;
  private readonly listeners = new Set<(c: TlsCredentials) => void>();
  private watchers: FSWatcher[] = [];
  private poll: NodeJS.Timeout | undefined;
  private settle: NodeJS.Timeout | undefined;
  /** stat signature of the files last loaded or last refused, so one bad renewal is logged once. */
  private signature = '';
  private reloading: Promise<void> | undefined;
  /** A change was seen while a reload ran: read again once it is done (the other file of a pair may have moved). */
  private changedMeanwhile = false;
  private closed = false;

  private constructor(
    private readonly o: CertificatesOptions,
    loaded: Loaded,
    /** 'configured' (tls.certFile) or 'self-signed'; also the metric label. */
    readonly source: 'configured' | 'self-signed',
    /** Where the certificate is read from. */
    readonly certFile: string,
  ) {
    this.loaded = loaded;
  }

  /** Loads tls.certFile/keyFile, or makes or reuses the self-signed certificate; throws a one-line SipedgeError. */
  static async open(o: CertificatesOptions): Promise<Certificates> {
    const now = o.now ?? Date.now;
    let certs: Certificates;
    if (o.tls.certFile !== '') {
      certs = new Certificates(o, await loadPair(o.tls.certFile, o.tls.keyFile), 'configured', o.tls.certFile);
      certs.signature = await fileSignature([o.tls.certFile, o.tls.keyFile]);
    } else {
      const { loaded, file, generated } = await selfSigned(o, now());
      certs = new Certificates(o, loaded, 'self-signed', file);
      o.logger.info({
        event: 'tls.self_signed',
        generated,
        file,
        names: loaded.leaf.subjectAltName,
        fingerprint256: loaded.leaf.fingerprint256,
      });
    }
    certs.checkValidity(now());
    return certs;
  }

  get current(): TlsCredentials {
    return this.loaded.creds;
  }

  /** SHA-256 fingerprint of the certificate, as colon-separated hex (what a phone may be told to pin). */
  get fingerprint256(): string {
    return this.loaded.leaf.fingerprint256;
  }

  /** Seconds from `nowMs` to the certificate's end (negative once expired). */
  expirySeconds(nowMs: number): number {
    return Math.round((Date.parse(this.loaded.leaf.validTo) - nowMs) / 1000);
  }

  onChange(fn: (c: TlsCredentials) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Starts following configured files (their directories' change events, and a slow poll). A self-signed one is not watched. */
  watch(pollMs = POLL_MS): void {
    if (this.source !== 'configured' || this.poll !== undefined) return;
    const files = [this.o.tls.certFile, this.o.tls.keyFile];
    // Directories, not files: certbot replaces the symlinks in live/ (a rename there), which a watch on the old file misses.
    for (const dir of new Set(files.map((f) => dirname(f)))) {
      try {
        // Any change in the directory: reloadOnce compares the files' stat signatures, so unrelated events cost a stat.
        const w = watch(dir, { persistent: false }, () => this.scheduleReload());
        w.on('error', () => undefined);
        this.watchers.push(w);
      } catch (e) {
        this.o.logger.warn({ event: 'tls.watch_failed', dir, code: (e as NodeJS.ErrnoException).code });
      }
    }
    this.poll = setInterval(() => void this.reload(), pollMs);
    this.poll.unref();
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.poll !== undefined) clearInterval(this.poll);
    if (this.settle !== undefined) clearTimeout(this.settle);
    this.poll = undefined;
    this.settle = undefined;
  }

  /**
   * Reads the configured files again when they changed since the last attempt. A pair that loads replaces the current
   * certificate (every listener follows); one that does not is logged once, with why, and the old one stays.
   */
  reload(): Promise<void> {
    if (this.reloading !== undefined) {
      this.changedMeanwhile = true;
      return this.reloading;
    }
    this.reloading = this.reloadOnce().finally(() => {
      this.reloading = undefined;
      if (this.changedMeanwhile) {
        this.changedMeanwhile = false;
        this.scheduleReload();
      }
    });
    return this.reloading;
  }

  private scheduleReload(): void {
    if (this.closed) return;
    if (this.settle !== undefined) clearTimeout(this.settle);
    this.settle = setTimeout(() => {
      this.settle = undefined;
      void this.reload();
    }, SETTLE_MS);
    this.settle.unref();
  }

  private async reloadOnce(): Promise<void> {
    const { certFile, keyFile } = this.o.tls;
    const sig = await fileSignature([certFile, keyFile]);
    if (sig === this.signature) return;
    this.signature = sig;
    let next: Loaded;
    try {
      next = await loadPair(certFile, keyFile);
    } catch (e) {
      this.o.metrics?.tlsReloads.labels('failed').inc();
      this.o.logger.warn({
        event: 'tls.reload_failed',
        reason: (e as Error).message,
        code: (e as SipedgeError).code,
        keptFingerprint256: this.fingerprint256,
      });
      return;
    }
    if (next.leaf.fingerprint256 === this.fingerprint256 && next.creds.key === this.loaded.creds.key && next.creds.cert === this.loaded.creds.cert) return;
    this.loaded = next;
    this.o.metrics?.tlsReloads.labels('ok').inc();
    this.o.logger.info({ event: 'tls.reloaded', fingerprint256: next.leaf.fingerprint256, validTo: next.leaf.validTo });
    this.checkValidity((this.o.now ?? Date.now)());
    for (const fn of this.listeners) fn(next.creds);
  }

  private checkValidity(nowMs: number): void {
    const leaf = this.loaded.leaf;
    if (Date.parse(leaf.validTo) <= nowMs || Date.parse(leaf.validFrom) > nowMs) {
      this.o.logger.warn({ event: 'tls.certificate_not_valid_now', file: this.certFile, validFrom: leaf.validFrom, validTo: leaf.validTo });
    }
  }
}

/** size, mtime and inode of each file (following symlinks), or the error code: changes when a file is replaced. */
async function fileSignature(files: string[]): Promise<string> {
  const parts = await Promise.all(
    files.map(async (f) => {
      try {
        const s = await stat(f);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code ?? 'error';
      }
    }),
  );
  return parts.join('|');
}

/**
 * The self-signed certificate in dataDir/tls/: reused while it is readable, covers the first wanted name and has more
 * than RENEW_BEFORE_DAYS left; otherwise a new ECDSA P-256 one is made (key file mode 0600).
 */
async function selfSigned(o: CertificatesOptions, nowMs: number): Promise<{ loaded: Loaded; file: string; generated: boolean }> {
  const dir = join(o.dataDir, 'tls');
  const certFile = join(dir, 'self-signed-cert.pem');
  const keyFile = join(dir, 'self-signed-key.pem');
  const why = await reusable(certFile, keyFile, o.mustCover, nowMs).catch((e: Error) => e.message);
  if (typeof why !== 'string') return { loaded: why, file: certFile, generated: false };
  if (why !== 'none yet') o.logger.info({ event: 'tls.self_signed.renew', file: certFile, reason: why });
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const pems = await generateSelfSigned(o.names, nowMs);
    // Written aside and renamed: a crash never leaves half a key, and the key is never readable by others.
    await writeFile(`${keyFile}.tmp`, pems.key, { mode: 0o600 });
    await writeFile(`${certFile}.tmp`, pems.cert, { mode: 0o600 });
    await rename(`${keyFile}.tmp`, keyFile);
    await rename(`${certFile}.tmp`, certFile);
  } catch (e) {
    if (e instanceof SipedgeError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new SipedgeError('SIPEDGE_ERR_TLS_SELF_SIGNED', `tls: cannot write the self-signed certificate to ${dir}: ${code ?? (e as Error).message} (set dataDir, or tls.certFile and tls.keyFile)`);
  }
  return { loaded: await loadPair(certFile, keyFile), file: certFile, generated: true };
}

/** The kept pair when it can be used as it is; otherwise a rejection whose message says why not. */
async function reusable(certFile: string, keyFile: string, primary: string, nowMs: number): Promise<Loaded> {
  try {
    await stat(certFile);
  } catch {
    throw new Error('none yet');
  }
  const loaded = await loadPair(certFile, keyFile);
  if (Date.parse(loaded.leaf.validTo) - nowMs < RENEW_BEFORE_DAYS * DAY_MS) throw new Error(`it ends ${loaded.leaf.validTo}`);
  const covers = isIP(primary) !== 0 ? loaded.leaf.checkIP(primary) : loaded.leaf.checkHost(primary);
  if (covers === undefined) throw new Error(`it does not name ${primary}`);
  return loaded;
}

/**
 * A new self-signed server certificate for `names` (DNS names and IP addresses), ECDSA P-256 / SHA-256.
 * `selfsigned` (on @peculiar/x509 and Node's WebCrypto) is loaded only here: Node 20 has no X.509 writer, and a
 * start that has its certificate never loads it.
 */
export async function generateSelfSigned(names: string[], nowMs: number): Promise<TlsCredentials> {
  const { generate } = (await import('selfsigned')).default;
  const notBefore = new Date(nowMs - DAY_MS);
  const pems = await generate([{ name: 'commonName', value: names[0]! }, { name: 'organizationName', value: 'sipedge self-signed' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: notBefore,
    notAfterDate: new Date(notBefore.getTime() + SELF_SIGNED_DAYS * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: names.map((n) => (isIP(n) !== 0 ? { type: 7 as const, ip: n } : { type: 2 as const, value: n })) },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}
