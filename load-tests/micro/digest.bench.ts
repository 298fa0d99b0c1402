// Micro-benchmark of the digest hot path: nonce mint/check, challenge, response verify, and a whole authenticate()
// success on the embedded memory store. Usage: npx tsx load-tests/micro/digest.bench.ts [--seconds 1]
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DigestAuthenticator } from '../../src/auth/authenticator.ts';
import { makeCredentialSet } from '../../src/auth/credentials.ts';
import { ha1, verifyResponse, type ResponseInput } from '../../src/auth/digest.ts';
import { NonceIssuer, sourceBinding } from '../../src/auth/nonce.ts';
import { systemClock } from '../../src/clock.ts';
import { configSchema } from '../../src/config/schema.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import type { DigestCredentials } from '../../src/sip/types.ts';
import { openStores } from '../../src/store/open.ts';
import type { Tenant } from '../../src/store/types.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '1' } } });
const budgetMs = Number(values.seconds) * 1000;

function report(name: string, ops: number, ms: number): void {
  const perSec = (ops / ms) * 1000;
  console.log(`${name.padEnd(44)} ${Math.round(perSec).toLocaleString('en-US').padStart(12)} ops/s  ${((ms * 1e6) / ops).toFixed(0).padStart(6)} ns/op`);
}

function bench(name: string, fn: (i: number) => unknown): void {
  for (let i = 0; i < 20_000; i++) fn(i); // warm-up
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < budgetMs) {
    for (let i = 0; i < 1000; i++) fn(ops + i);
    ops += 1000;
    now = performance.now();
  }
  report(name, ops, now - start);
}

async function benchAsync(name: string, fn: (i: number) => Promise<unknown>, limit: number): Promise<void> {
  const warm = Math.min(20_000, Math.floor(limit / 4));
  for (let i = 0; i < warm; i++) await fn(i);
  let ops = warm;
  const start = performance.now();
  let now = start;
  while (now - start < budgetMs && ops + 1000 <= limit) {
    for (let i = 0; i < 1000; i++) await fn(ops + i);
    ops += 1000;
    now = performance.now();
  }
  report(name, ops - warm, now - start);
}

const issuer = new NonceIssuer('bench-secret-0123456789abcdef', 300);
const now = Date.now();
const source = { transport: 'udp', address: '192.0.2.10', port: 5060 };
const bound = sourceBinding(source);
const nonce = issuer.mintNonce(now, bound);
bench('NonceIssuer.mintNonce', () => issuer.mintNonce(now, bound));
bench('NonceIssuer.checkNonce (ok)', () => issuer.checkNonce(nonce, now, bound));

const realm = 'acme.example.com';
for (const algorithm of ['MD5', 'SHA-256'] as const) {
  const input: ResponseInput = { algorithm, ha1: ha1(algorithm, '1001', realm, 'pw'), method: 'REGISTER', uri: `sip:${realm}`, nonce, nc: '00000001', cnonce: 'abc', qop: 'auth' };
  const hash = (s: string) => createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(s).digest('hex');
  const response = hash(`${input.ha1}:${nonce}:00000001:abc:auth:${hash(`REGISTER:sip:${realm}`)}`);
  bench(`verifyResponse ${algorithm} (from HA1)`, () => verifyResponse(input, response));
}

// A whole authenticate() success: credential choice, lock/trust reads, nonce check, account read, SHA-256 verify,
// nc check-and-set, trust + counter reset. Requests are pre-signed so that the client's hashing is not measured.
const dataDir = mkdtempSync(join(tmpdir(), 'sipedge-bench-'));
try {
  const config = configSchema.parse({ dataDir, auth: { nonceSecret: 'bench-secret-0123456789abcdef' } });
  const stores = await openStores(config, { role: 'edge', clock: systemClock });
  const tenant: Tenant = { code: 'acme', domain: realm, createdAt: now };
  await stores.accounts.addTenant(tenant);
  const password = 'Kx7mQ2rT9vLpW4nZ8cYh3dFs';
  await stores.accounts.putExtensions([
    { tenant: 'acme', ext: '1001', cred: makeCredentialSet('1001', tenant, password, ''), credUpdatedAt: now, createdAt: now, updatedAt: now },
  ]);
  const auth = new DigestAuthenticator({
    config: config.auth,
    stores,
    clock: systemClock,
    metrics: new Metrics(),
    logger: silentLogger(),
    nonceSecret: config.auth.nonceSecret,
  });
  bench('DigestAuthenticator.challenge (2 values)', () => auth.challenge(realm, false, { source }));

  const challengeNonce = /nonce="([^"]+)"/.exec(auth.challenge(realm, false, { source })[0])?.[1] ?? '';
  const h = (s: string) => createHash('sha256').update(s).digest('hex');
  const userHa1 = h(`1001:${realm}:${password}`);
  const uri = `sip:${realm}`;
  const ha2 = h(`REGISTER:${uri}`);
  const count = 300_000;
  const signed: DigestCredentials[][] = new Array(count);
  for (let i = 0; i < count; i++) {
    const nc = (i + 1).toString(16).padStart(8, '0');
    const cnonce = `c${i}`;
    const params = new Map([
      ['username', '1001'], ['realm', realm], ['nonce', challengeNonce], ['uri', uri], ['algorithm', 'SHA-256'],
      ['qop', 'auth'], ['nc', nc], ['cnonce', cnonce], ['response', h(`${userHa1}:${challengeNonce}:${nc}:${cnonce}:auth:${ha2}`)],
    ]);
    signed[i] = [{ scheme: 'Digest', params }];
  }
  let failed = 0;
  await benchAsync(
    'DigestAuthenticator.authenticate (ok, memory)',
    async (i) => {
      const outcome = await auth.authenticate({ method: 'REGISTER', credentials: signed[i], realm, tenant, source });
      if (!outcome.ok) failed++;
    },
    count,
  );
  if (failed > 0) throw new Error(`${failed} authentications failed; the benchmark measured the wrong path`);
  await stores.close();
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
