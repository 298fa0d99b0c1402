// SIPp phones call through the edge to two SIPp PBXs (uas-upstream.xml on 127.0.0.2 and 127.0.0.4): each user's calls
// reach exactly one PBX; when that PBX dies, probes mark it down and the users' calls go to the other, none to both.
// Scenarios: load-tests/sipp/{register-auth,invite-via-proxy,uas-upstream}.xml, the same files the load run uses.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSippUas, type SippUas } from '../../load-tests/lib/sipp-uas.ts';
import { writeUserFiles, type UserFiles } from '../../load-tests/lib/users.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import { describeSipp, freeUdpPortOn, runSipp } from '../../load-tests/lib/sipp.ts';

const TENANT = { code: 'acme', domain: 'acme.sipedge.test' };
const USERS = 12;

describe('SIPp phones calling through the edge to two SIPp PBXs', () => {
  let dir: string;
  let users: UserFiles;
  let edge: TestEdge;
  let pbxA: SippUas;
  let pbxB: SippUas;
  let phonePort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sipedge-e2e-proxy-'));
    users = writeUserFiles({ count: USERS, tenant: TENANT.code, domain: TENANT.domain, outDir: dir });
    pbxA = await startSippUas({ ip: '127.0.0.2' });
    pbxB = await startSippUas({ ip: '127.0.0.4' });
    edge = await startEdge({
      overrides: {
        upstreams: [pbxA, pbxB].map((p) => ({ uri: p.uri, priority: 1, weight: 1, transport: 'udp' as const })),
        proxy: {
          probe: { intervalSeconds: 1, timeoutSeconds: 0.5, failuresToDown: 2, successesToUp: 1 },
          tenantUserAuth: { [TENANT.code]: 'registered' },
        },
        log: { level: 'warn' },
      },
    });
    await edge.cli(async (p) => {
      await p.addTenant(TENANT.code, TENANT.domain);
      await p.importCsv(readFileSync(users.importCsv, 'utf8'));
    });
    expect(await eventually(async () => (await edge.app.stores.accounts.listExtensions(TENANT.code)).length === USERS)).toBe(true);
    expect(await eventually(() => edge.app.upstreams.healthy().length === 2, 5000)).toBe(true);
    phonePort = await freeUdpPortOn('127.0.0.1');
    const reg = await sipp('register-auth', USERS);
    expect(reg.exitCode, describeSipp(reg)).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await pbxA?.stop();
    await pbxB?.stop();
    await edge?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const sipp = (scenario: 'register-auth' | 'invite-via-proxy', calls: number) =>
    runSipp({
      scenario: `load-tests/sipp/${scenario}.xml`,
      target: `127.0.0.1:${edge.udpPort}`,
      inf: users.sippCsv,
      calls,
      rate: 50,
      authUri: TENANT.domain,
      localPort: phonePort,
      timeoutMs: 30_000,
    });

  /** INVITEs each PBX received so far (SIPp writes its counts every second). */
  async function invites(): Promise<[number, number]> {
    await new Promise((r) => setTimeout(r, 1200));
    return [pbxA.counts()['0_INVITE_Recv'] ?? 0, pbxB.counts()['0_INVITE_Recv'] ?? 0];
  }

  it('sends every call of a user to its one chosen PBX (two calls per user, counted at each PBX)', async () => {
    const r = await sipp('invite-via-proxy', 2 * USERS);
    expect(r.exitCode, describeSipp(r)).toBe(0);
    expect(r.successful).toBe(2 * USERS);
    const [a, b] = await invites();
    const bound = await edge.app.stores.upstreamChoices.countByUpstream();
    expect((bound.get(pbxA.uri) ?? 0) + (bound.get(pbxB.uri) ?? 0)).toBe(USERS);
    // Exactly one PBX per user: each PBX got two INVITEs per user bound to it, nothing more.
    expect(a).toBe(2 * (bound.get(pbxA.uri) ?? 0));
    expect(b).toBe(2 * (bound.get(pbxB.uri) ?? 0));
    expect(a + b).toBe(2 * USERS);
  }, 60_000);

  it('moves the users of a PBX that dies to the other one once probes mark it down; no call reaches both', async () => {
    const [aBefore, bBefore] = await invites();
    // Kill the PBX holding more users (with 12 users both hold some, almost always).
    const bound = await edge.app.stores.upstreamChoices.countByUpstream();
    const victim = (bound.get(pbxA.uri) ?? 0) >= (bound.get(pbxB.uri) ?? 0) ? pbxA : pbxB;
    const survivor = victim === pbxA ? pbxB : pbxA;
    const victimBefore = victim === pbxA ? aBefore : bBefore;
    const survivorBefore = victim === pbxA ? bBefore : aBefore;
    await victim.stop();
    expect(await eventually(() => edge.app.upstreams.stateOf(victim.uri) === 'down', 8000)).toBe(true);
    const r = await sipp('invite-via-proxy', USERS);
    expect(r.exitCode, describeSipp(r)).toBe(0);
    await new Promise((res) => setTimeout(res, 1200));
    expect(survivor.counts()['0_INVITE_Recv']).toBe(survivorBefore + USERS);
    expect(victimBefore).toBeGreaterThan(0);
    expect((await edge.app.stores.upstreamChoices.countByUpstream()).get(survivor.uri)).toBe(USERS);
  }, 60_000);
});
