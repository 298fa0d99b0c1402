// SIPp phones register against a real `sipedge start` (UDP and TCP), and phones with a wrong password are refused.
// Scenarios: load-tests/sipp/register-{auth,badpass}.xml; the edge process: load-tests/lib/edge-process.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge, type RunningEdge } from '../../load-tests/lib/edge-process.ts';
import { metricValue } from '../../load-tests/lib/metrics-text.ts';
import { writeUserFiles, type UserFiles } from '../../load-tests/lib/users.ts';
import { describeSipp, runSipp } from '../../load-tests/lib/sipp.ts';

const TENANT = { code: 'acme', domain: 'acme.sipedge.test' };
const PHONES = 20;
/** Distinct extensions that try a wrong password: under the ban limit (10 per source) and one failure each (lockout: 5). */
const BAD_PHONES = 3;

describe('SIPp phones registering through the digest challenge', () => {
  let dir: string;
  let users: UserFiles;
  let edge: RunningEdge | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sipedge-e2e-sipp-'));
    users = writeUserFiles({ count: PHONES, tenant: TENANT.code, domain: TENANT.domain, outDir: dir });
    edge = await startEdge({
      tenants: [TENANT],
      importCsv: users.importCsv,
      // The default dual challenge (SHA-256 first, then MD5): SIPp 3.6.1 can only answer it through the edge's
      // auth.md5OpaqueHint (see load-tests/sipp/register-auth.xml); without the hint SIPp exits 255 here.
      tcp: true,
    });
  }, 90_000);

  afterAll(async () => {
    await edge?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const register = (scenario: 'auth' | 'badpass', calls: number, transport: 'u1' | 't1') =>
    runSipp({
      scenario: `load-tests/sipp/register-${scenario}.xml`,
      target: edge!.sipTarget,
      inf: users.sippCsv,
      calls,
      rate: 20,
      transport,
      authUri: TENANT.domain,
      timeoutMs: 30_000,
    });

  it('registers 20 phones over UDP: each answers the 401 and gets 200', async () => {
    const r = await register('auth', PHONES, 'u1');
    expect(r.exitCode, describeSipp(r)).toBe(0);
    expect(r.successful, describeSipp(r)).toBe(PHONES);
    expect(r.failed).toBe(0);
  }, 60_000);

  it('registers the same 20 phones again over one TCP connection', async () => {
    const r = await register('auth', PHONES, 't1');
    expect(r.exitCode, describeSipp(r)).toBe(0);
    expect(r.successful, describeSipp(r)).toBe(PHONES);
    expect(r.failed).toBe(0);
  }, 60_000);

  it('answers a wrong password with 401 and a fresh challenge, and counts it as bad-password', async () => {
    const before = metricValue(await edge!.metrics(), 'sipedge_auth_failures_total', { reason: 'bad-password' });
    const r = await register('badpass', BAD_PHONES, 'u1');
    // register-badpass.xml only completes a call on 401 -> 401 (with WWW-Authenticate); a 403 or silence fails it.
    expect(r.exitCode, describeSipp(r)).toBe(0);
    expect(r.successful, describeSipp(r)).toBe(BAD_PHONES);
    const after = metricValue(await edge!.metrics(), 'sipedge_auth_failures_total', { reason: 'bad-password' });
    expect(after - before).toBe(BAD_PHONES);
  }, 60_000);

  it('exits 0 on SIGTERM after the calls', async () => {
    const exit = await edge!.stop();
    expect(exit.killed, edge!.output()).toBe(false);
    expect(exit.exitCode, edge!.output()).toBe(0);
  }, 30_000);
});
