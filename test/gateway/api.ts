// Test fixture for the gateway: an edge (startEdge, real HTTP on loopback) with a cheap argon2 cost and a fake
// clock, a tenant with extensions and login passwords, and an HTTP client with a cookie jar and a chosen source IP.
import http from 'node:http';
import https from 'node:https';
import type { AppOptions } from '../../src/app.ts';
import { FakeClock } from '../../src/clock.ts';
import type { DeepPartial } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { startEdge, type TestEdge } from '../helpers/edge.ts';

export interface Reply {
  status: number;
  body: any;
  headers: http.IncomingHttpHeaders;
}

/** One browser: keeps the session cookie and the CSRF token it was given. */
export class Client {
  cookie: string | undefined;
  csrf: string | undefined;
  lastSetCookie: string | undefined;

  constructor(
    private readonly port: number,
    private readonly localAddress = '127.0.0.1',
    /** Speak HTTPS, trusting this CA (PEM), e.g. the edge's self-signed certificate. */
    private readonly ca?: string,
  ) {}

  async call(method: string, path: string, body?: unknown, opts: { csrf?: boolean; raw?: string; contentType?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
    const payload = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (payload !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    if (this.cookie) headers.cookie = this.cookie;
    if (this.csrf && opts.csrf !== false) headers['x-csrf-token'] = this.csrf;
    const res = await new Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
      const lib = this.ca === undefined ? http : https;
      const req = lib.request({ host: '127.0.0.1', port: this.port, method, path, headers, localAddress: this.localAddress, ca: this.ca }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: r.headers }));
      });
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
    const set = res.headers['set-cookie']?.find((c) => c.startsWith('sipedge_session='));
    if (set !== undefined) {
      this.lastSetCookie = set;
      const value = set.split(';')[0]!;
      this.cookie = value === 'sipedge_session=' ? undefined : value;
    }
    let parsed: any = res.text;
    try {
      parsed = res.text === '' ? undefined : JSON.parse(res.text);
    } catch {
      // not JSON
    }
    if (parsed && typeof parsed === 'object' && typeof parsed.csrfToken === 'string') this.csrf = parsed.csrfToken;
    return { status: res.status, body: parsed, headers: res.headers };
  }

  get = (path: string): Promise<Reply> => this.call('GET', path);
  post = (path: string, body?: unknown, opts?: { csrf?: boolean }): Promise<Reply> => this.call('POST', path, body, opts);

  async login(username: string, password: string): Promise<Reply> {
    return this.post('/api/login', { username, password });
  }
}

export interface GatewayEdge {
  edge: TestEdge;
  clock: FakeClock;
  client(localAddress?: string): Client;
  /** Sets a login password (and role) through the CLI-role store, as `sipedge ext login-password` does. */
  stop(): Promise<void>;
}

/** Cheap argon2 for tests (the production default costs ~30 ms per hash). */
export const TEST_ARGON2 = { memoryCost: 64, timeCost: 1, parallelism: 1 };

export const PASSWORDS = { alice: 'Alice-login-pw1', bob: 'Bob-login-pw22', carol: 'Carol-admin-pw3', oscar: 'Oscar-operator-pw4' };

/**
 * Starts an edge with tenant acme (1001 alice with email alice@example.com, 1002 bob) and globex (2001 carol,
 * tenant admin of globex), and ops (9000 oscar, operator). Login passwords as in PASSWORDS.
 */
export async function startGatewayEdge(
  store: 'memory' | 'redis',
  overrides: DeepPartial<Config> & { dataDir?: string } = {},
  opts: { inspectHttp?: AppOptions['inspectHttp'] } = {},
): Promise<GatewayEdge> {
  const clock = new FakeClock(Date.UTC(2026, 5, 1, 12, 0, 0));
  const edge = await startEdge({
    store,
    clock,
    inspectHttp: opts.inspectHttp,
    dataDir: overrides.dataDir,
    overrides: { ...overrides, gateway: { ...(overrides.gateway ?? {}), argon2: TEST_ARGON2 } },
  });
  const g = edge.app.gateway;
  const p = g.provisioning;
  await p.addTenant('acme', 'acme.example.com');
  await p.addTenant('globex', 'globex.example.com');
  await p.addTenant('ops', 'ops.example.com');
  await p.addExtension({ tenant: 'acme', ext: '1001' }, { email: 'alice@example.com' });
  await p.addExtension({ tenant: 'acme', ext: '1002' });
  await p.addExtension({ tenant: 'globex', ext: '2001' });
  await p.addExtension({ tenant: 'ops', ext: '9000' });
  const set = async (tenant: string, ext: string, pw: string): Promise<void> => {
    const r = await g.accounts.setPassword({ tenant, ext }, pw);
    if (!r.ok) throw new Error(`fixture password for ${ext}@${tenant} breaks the policy`);
  };
  await set('acme', '1001', PASSWORDS.alice);
  await set('acme', '1002', PASSWORDS.bob);
  await set('globex', '2001', PASSWORDS.carol);
  await g.accounts.setRole({ tenant: 'globex', ext: '2001' }, 'tenant-admin');
  await set('ops', '9000', PASSWORDS.oscar);
  await g.accounts.setRole({ tenant: 'ops', ext: '9000' }, 'operator');
  return {
    edge,
    clock,
    client: (localAddress) => new Client(edge.httpPort, localAddress),
    stop: () => edge.stop(),
  };
}
