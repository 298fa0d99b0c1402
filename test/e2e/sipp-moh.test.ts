// SIPp phones call the tenant's hold music through a real `sipedge start`: INVITE sip:moh@<domain> -> 407 -> ACK ->
// INVITE with the digest -> 200 (sendonly answer, checked by the scenario) -> ACK -> hold -> BYE -> 200.
// Scenario: load-tests/sipp/moh-call.xml. The RTP itself is checked sample by sample in test/media/moh-call.test.ts;
// here the edge's counters show that each call streamed for as long as it was held.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge, type RunningEdge } from '../../load-tests/lib/edge-process.ts';
import { metricValue } from '../../load-tests/lib/metrics-text.ts';
import { writeUserFiles, type UserFiles } from '../../load-tests/lib/users.ts';
import { describeSipp, runSipp } from '../../load-tests/lib/sipp.ts';

const TENANT = { code: 'acme', domain: 'acme.sipedge.test' };
const CALLS = 4;
const HOLD_MS = 2000;

describe('SIPp phones on hold', () => {
  let dir: string;
  let users: UserFiles;
  let edge: RunningEdge | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sipedge-e2e-moh-'));
    users = writeUserFiles({ count: CALLS, tenant: TENANT.code, domain: TENANT.domain, outDir: dir });
    edge = await startEdge({ tenants: [TENANT], importCsv: users.importCsv });
  }, 90_000);

  afterAll(async () => {
    await edge?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('authenticates each call with 407, answers sendonly PCMA, streams while held and stops on BYE', async () => {
    const metric = async (name: string, labels?: Record<string, string>) => metricValue(await edge!.metrics(), name, labels) ?? 0;
    const packets0 = await metric('sipedge_moh_rtp_packets_total');
    const r = await runSipp({
      scenario: 'load-tests/sipp/moh-call.xml',
      target: edge!.sipTarget,
      inf: users.sippCsv,
      calls: CALLS,
      rate: 10,
      timeoutMs: 40_000,
      // -d: how long each call stays on hold; -mp: SIPp's media port (where the edge sends RTP), away from 6000 so
      // that parallel SIPp runs do not collide.
      extraArgs: ['-d', String(HOLD_MS), '-mi', '127.0.0.1', '-mp', String(42000 + 2 * Math.floor(Math.random() * 2500))],
    });
    expect(r.exitCode, describeSipp(r)).toBe(0);
    expect(r.successful, describeSipp(r)).toBe(CALLS);
    expect(await metric('sipedge_moh_calls_total', { outcome: 'answered' })).toBe(CALLS);
    // 50 packets a second per call while held (the 200's ACK to the BYE takes a few ms more).
    const sent = (await metric('sipedge_moh_rtp_packets_total')) - packets0;
    expect(sent).toBeGreaterThan(CALLS * (HOLD_MS / 20) * 0.9);
    expect(sent).toBeLessThan(CALLS * (HOLD_MS / 20) * 1.5);
    expect(await metric('sipedge_moh_streams')).toBe(0);
  }, 60_000);
});
