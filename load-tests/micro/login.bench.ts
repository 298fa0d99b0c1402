// Gateway login timing over real HTTP at the default argon2 cost: a wrong password for a known user, an unknown
// extension-tenant, an unknown email and a right password should take the same time (equal-time failure).
// Usage: npx tsx load-tests/micro/login.bench.ts [--rounds 40]. Prints figures; asserts nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { Metrics } from '../../src/observability/metrics.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '40' } } });
const rounds = Number(values.rounds);

const dataDir = mkdtempSync(join(tmpdir(), 'sipedge-login-bench-'));
const config = loadConfig({
  env: {},
  overrides: [
    {
      dataDir,
      sip: { udp: '127.0.0.1:0', tcp: 'off', ws: 'off', tls: 'off', wss: 'off' },
      http: { listen: '127.0.0.1:0', https: 'off' },
      log: { level: 'silent' },
      gateway: { loginLimit: { maxFailures: 1_000_000, ipMaxFailures: 1_000_000 } },
    },
  ],
});
const app = await createApp(config, { logger: silentLogger(), metrics: new Metrics() });
const { http } = await app.start();
const g = app.gateway;
await g.provisioning.addTenant('acme', 'acme.example.com');
await g.provisioning.addExtension({ tenant: 'acme', ext: '1001' }, { email: 'alice@example.com' });
await g.accounts.setPassword({ tenant: 'acme', ext: '1001' }, 'Alice-login-pw1');
await g.hasher.warm();

async function login(username: string, password: string): Promise<number> {
  const t = performance.now();
  const r = await fetch(`http://127.0.0.1:${http!.port}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  await r.arrayBuffer();
  return performance.now() - t;
}

const cases: Array<[string, string, string]> = [
  ['right password', '1001-acme', 'Alice-login-pw1'],
  ['wrong password, known user', '1001-acme', 'Wrong-login-pw1'],
  ['unknown extension-tenant', '4711-acme', 'Wrong-login-pw1'],
  ['unknown email', 'nobody@example.com', 'Wrong-login-pw1'],
];
const times = new Map<string, number[]>(cases.map(([n]) => [n, []]));
for (let i = 0; i < 3; i++) for (const [, u, p] of cases) await login(u, p); // warm-up
// Interleaved, so drift of the shared machine hits every case alike.
for (let i = 0; i < rounds; i++) for (const [n, u, p] of cases) times.get(n)!.push(await login(u, p));

const { memoryCost, timeCost, parallelism } = config.gateway.argon2;
console.log(`POST /api/login, argon2id m=${memoryCost} KiB t=${timeCost} p=${parallelism}, ${rounds} rounds each, sequential`);
for (const [n, ts] of times) {
  ts.sort((a, b) => a - b);
  const q = (f: number): string => ts[Math.min(ts.length - 1, Math.floor(f * ts.length))]!.toFixed(1);
  console.log(`${n.padEnd(30)} median ${q(0.5).padStart(6)} ms   p10 ${q(0.1).padStart(6)} ms   p90 ${q(0.9).padStart(6)} ms`);
}
await app.stop();
rmSync(dataDir, { recursive: true, force: true });
