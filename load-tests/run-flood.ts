// Legitimate registrations during a flood (npm run bench -- --flood): measures the edge's answer rate for
// unauthenticated INVITEs (capacity, flood guard off), then floods a second edge (flood guard on, the default config)
// at a multiple of that from 200 source addresses while 50 phones on other addresses register once a second each.
// Prints the phones' success share and p99 registration time, the edge's RSS before, at most during, and 60 s after.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT, startEdge, type RunningEdge } from './lib/edge-process.ts';
import { metricValue } from './lib/metrics-text.ts';
import { rssBytes } from './lib/proc-cpu.ts';
import { LoadReport, REPORT_OPTION, latencySummary, reportUsage } from './lib/report.ts';
import { writeUserFiles, type TestUser } from './lib/users.ts';

const USAGE = `usage: tsx load-tests/run-flood.ts [options]

  --factor F        flood rate as a multiple of the measured capacity (default 5)
  --rate R          flood rate in INVITE/s instead (e.g. 26500: 132/s from each of the 200 addresses)
  --flood-seconds S how long the flood lasts (default 15)
  --after-seconds S how long after the flood the RSS is read again (default 60)
  --phones N        legitimate phones, each registering once a second from its own address (default 50)
  --timeline        print one line per second: the phones' registrations started in it (count, failed, slowest),
                    the guard's drops and bans, datagrams the kernel dropped at the edge's socket, live transactions,
                    the edge's RSS, V8 heap (young and old generation, used) and external memory
${reportUsage(20)}
  -h, --help`;

const TENANT = { code: 'bench', domain: 'bench.example.com' };
const FLOOD_SOURCES = 200;

function rssMb(pid: number): number {
  return rssBytes(pid) / 1024 / 1024;
}

function buildSender(dir: string): string {
  const out = join(dir, 'flood-sender');
  execFileSync('cc', ['-O2', '-o', out, join(REPO_ROOT, 'load-tests', 'native', 'flood-sender.c')]);
  return out;
}

/** Runs the flood sender; resolves with the datagrams it sent. */
function flood(sender: string, port: number, rate: number, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(sender, [String(port), '127.0.2.1', String(FLOOD_SOURCES), String(rate), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`flood-sender exit ${code}`))));
  });
}

/** Datagrams the kernel dropped at the UDP socket bound to 127.0.0.1:port (the drops column of /proc/net/udp). */
function socketDrops(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local) return Number(f.at(-1));
  }
  return Number.NaN;
}

/** --timeline: per second, the phones' registrations started in it against what the edge and the kernel did. */
class Timeline {
  private readonly regs = new Map<number, { n: number; failed: number; slowest: number }>();
  private readonly rows: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private last = { dropped: 0, kernel: 0, overload: 0, gc: 0 };
  constructor(
    private readonly edge: RunningEdge,
    private readonly t0: number,
  ) {}
  private second(t: number): number {
    return Math.floor((t - this.t0) / 1000);
  }
  registration(at: number, ms: number | undefined): void {
    const s = this.second(at);
    const r = this.regs.get(s) ?? { n: 0, failed: 0, slowest: 0 };
    r.n++;
    if (ms === undefined) r.failed++;
    else r.slowest = Math.max(r.slowest, ms);
    this.regs.set(s, r);
  }
  mark(what: string): void {
    this.rows.push(`${String(this.second(performance.now())).padStart(4)} s  --- ${what}`);
  }
  start(): void {
    this.timer = setInterval(() => void this.sample(), 1000);
  }
  private async sample(): Promise<void> {
    const s = this.second(performance.now());
    const m = await this.edge.metrics().catch(() => '');
    const dropped = metricValue(m, 'sipedge_flood_dropped_total');
    const kernel = socketDrops(this.edge.sipPort);
    const overload = metricValue(m, 'sipedge_sip_dropped_total', { reason: 'overload' });
    const gc = metricValue(m, 'sipedge_nodejs_gc_duration_seconds_sum');
    const lag = metricValue(m, 'sipedge_nodejs_eventloop_lag_max_seconds');
    const mb = (name: string) => (metricValue(m, name) / 2 ** 20).toFixed(0);
    const space = (name: string) => (metricValue(m, 'sipedge_nodejs_heap_space_size_total_bytes', { space: name }) / 2 ** 20).toFixed(0);
    this.rows.push(
      `${String(s).padStart(4)} s  guard dropped +${dropped - this.last.dropped} bans ${metricValue(m, 'sipedge_flood_bans_total')}  kernel dropped +${kernel - this.last.kernel} overload +${overload - this.last.overload}` +
        `  loop lag max ${(lag * 1000).toFixed(0)} ms, GC ${((gc - this.last.gc) * 1000).toFixed(0)} ms` +
        `  transactions ${metricValue(m, 'sipedge_transactions')}  RSS ${rssMb(this.edge.pid).toFixed(0)} MB (V8 new ${space('new')}, old ${space('old')},` +
        ` used ${mb('sipedge_nodejs_heap_size_used_bytes')}; external ${mb('sipedge_nodejs_external_memory_bytes')})  @${s}`,
    );
    this.last = { dropped, kernel, overload, gc };
  }
  print(): void {
    clearInterval(this.timer);
    for (const row of this.rows) {
      const at = /@(\d+)$/.exec(row);
      if (at === null) {
        console.log(row);
        continue;
      }
      const r = this.regs.get(Number(at[1]) - 1);
      console.log(row.replace(/  @\d+$/, '') + (r === undefined ? '' : `  | phones: ${r.n} started, ${r.failed} failed, slowest ${r.slowest.toFixed(0)} ms`));
    }
  }
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** A phone on its own address: REGISTER -> 401 -> REGISTER with an MD5 digest, retransmitted as RFC 3261 §17.1.2.2 says. */
class BenchPhone {
  private readonly socket = dgram.createSocket('udp4');
  private readonly waiting = new Map<string, (text: string) => void>();
  private cseq = 1;
  private readonly callId = `${randomBytes(8).toString('hex')}@bench`;
  constructor(
    private readonly address: string,
    private readonly port: number,
    private readonly user: TestUser,
  ) {
    this.socket.on('message', (m) => {
      const text = m.toString('latin1');
      const cseq = /\r\nCSeq: (\d+)/i.exec(text)?.[1];
      const status = Number(text.slice(8, 11));
      if (cseq !== undefined && status >= 200) this.waiting.get(cseq)?.(text);
    });
  }
  bind(): Promise<void> {
    return new Promise((r) => this.socket.bind(0, this.address, () => r()));
  }
  close(): void {
    this.socket.close();
  }
  private request(authorization?: string): { text: string; cseq: string } {
    const cseq = String(this.cseq++);
    const local = `${this.address}:${this.socket.address().port}`;
    const text = [
      `REGISTER sip:${TENANT.domain} SIP/2.0`,
      `Via: SIP/2.0/UDP ${local};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      `From: <sip:${this.user.extension}@${TENANT.domain}>;tag=${randomBytes(4).toString('hex')}`,
      `To: <sip:${this.user.extension}@${TENANT.domain}>`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${this.user.extension}@${local}>`,
      'Expires: 300',
      'User-Agent: sipedge-bench-phone',
      ...(authorization ? [`Authorization: ${authorization}`] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    return { text, cseq };
  }
  /** One transaction, retransmitted after 0.5, 1, 2, 4, 4 ... s; undefined after 32 s (Timer F). */
  private async transact(r: { text: string; cseq: string }): Promise<string | undefined> {
    let answer: string | undefined;
    const got = new Promise<void>((resolve) => this.waiting.set(r.cseq, (t) => ((answer = t), resolve())));
    const started = Date.now();
    for (let wait = 500; answer === undefined && Date.now() - started < 32_000; wait = Math.min(wait * 2, 4_000)) {
      this.socket.send(r.text, this.port, '127.0.0.1');
      await Promise.race([got, new Promise((res) => setTimeout(res, wait))]);
    }
    this.waiting.delete(r.cseq);
    return answer;
  }
  /** One registration; resolves with its time in ms, or undefined when it did not end in 200. */
  async register(): Promise<number | undefined> {
    const started = performance.now();
    const challenge = await this.transact(this.request());
    if (challenge === undefined || !challenge.startsWith('SIP/2.0 401')) return undefined;
    const md5Line = challenge.split('\r\n').find((l) => /^WWW-Authenticate:.*algorithm=MD5/i.test(l)) ?? '';
    const nonce = /nonce="([^"]+)"/.exec(md5Line)?.[1] ?? '';
    const uri = `sip:${TENANT.domain}`;
    const cnonce = randomBytes(6).toString('hex');
    const ha1 = md5(`${this.user.extension}:${TENANT.domain}:${this.user.password}`);
    const response = md5(`${ha1}:${nonce}:00000001:${cnonce}:auth:${md5(`REGISTER:${uri}`)}`);
    const authorization = `Digest username="${this.user.extension}", realm="${TENANT.domain}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}"`;
    const ok = await this.transact(this.request(authorization));
    return ok?.startsWith('SIP/2.0 200') ? performance.now() - started : undefined;
  }
}

function summary(results: Array<number | undefined>): string {
  const ok = results.filter((r): r is number => r !== undefined).sort((a, b) => a - b);
  const p = (q: number) => (ok.length === 0 ? Number.NaN : ok[Math.min(ok.length - 1, Math.floor(q * ok.length))]!);
  return `${ok.length}/${results.length} succeeded (${((100 * ok.length) / Math.max(1, results.length)).toFixed(2)} %), p50 ${p(0.5).toFixed(1)} ms, p99 ${p(0.99).toFixed(1)} ms, max ${(ok.at(-1) ?? Number.NaN).toFixed(1)} ms`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      factor: { type: 'string', default: '5' },
      rate: { type: 'string' },
      'flood-seconds': { type: 'string', default: '15' },
      'after-seconds': { type: 'string', default: '60' },
      phones: { type: 'string', default: '50' },
      timeline: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
      ...REPORT_OPTION,
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const factor = Number(values.factor);
  const floodSeconds = Number(values['flood-seconds']);
  const afterSeconds = Number(values['after-seconds']);
  const phoneCount = Number(values.phones);
  const work = mkdtempSync(join(tmpdir(), 'sipedge-flood-'));
  let edge: RunningEdge | undefined;
  const report = new LoadReport('flood', 'legitimate registrations during a flood', values['report-dir']).describe('', {
    title: '',
    xLabel: 'phase',
    rateUnit: 'registrations',
    cpuLabel: '',
    latencyLabel: 'ms, REGISTER to the 200 after the 401',
    latencyTitle: 'Registration time percentiles',
    memoryLabel: 'edge RSS, MB',
  });
  report.figure('options', { factor, rate: values.rate, floodSeconds, afterSeconds, phoneCount });
  try {
    const sender = buildSender(work);
    report.progress(1, 2, 'capacity probe (flood guard off)');
    const files = writeUserFiles({ count: phoneCount, tenant: TENANT.code, domain: TENANT.domain, outDir: work });

    // 1. Capacity: how many of these INVITEs per second an edge without the guard answers (407), offered far more.
    edge = await startEdge({ tenants: [TENANT], importCsv: files.importCsv, floodGuard: false, tcp: false });
    const before = metricValue(await edge.metrics(), 'sipedge_sip_requests_total');
    const probeSeconds = 5;
    const offered = await flood(sender, edge.sipPort, 200_000, probeSeconds);
    const answered = metricValue(await edge.metrics(), 'sipedge_sip_requests_total') - before;
    const capacity = answered / probeSeconds;
    await edge.stop();
    edge = undefined;
    report.figure('capacity', { offeredPerSecond: offered / probeSeconds, answeredPerSecond: capacity, sources: FLOOD_SOURCES });
    report.progress(2, 2, `flood at ${values.rate ?? `${factor} x capacity`}`);
    console.log(`capacity (flood guard off): offered ${(offered / probeSeconds).toFixed(0)} INVITE/s from ${FLOOD_SOURCES} addresses, parsed and answered ${capacity.toFixed(0)}/s`);

    // 2. The default edge: phones register; a flood at factor x capacity; RSS read throughout.
    edge = await startEdge({ tenants: [TENANT], importCsv: files.importCsv, tcp: false });
    const phones = files.users.map((u, i) => new BenchPhone(`127.0.1.${i + 1}`, edge!.sipPort, u));
    for (const p of phones) await p.bind();
    let phase: 'before' | 'flood' | 'after' | 'done' = 'before';
    const byPhase: Record<string, Array<number | undefined>> = { before: [], flood: [], after: [] };
    const started = performance.now();
    const timeline = values.timeline ? new Timeline(edge, started) : undefined;
    const loops = phones.map(async (p, i) => {
      await new Promise((r) => setTimeout(r, (1000 * i) / phones.length));
      while (phase !== 'done') {
        const at = phase;
        const next = Date.now() + 1000;
        const t = performance.now();
        const r = await p.register();
        byPhase[at]!.push(r);
        timeline?.registration(t, r);
        await new Promise((res) => setTimeout(res, Math.max(0, next - Date.now())));
      }
    });
    timeline?.start();
    await new Promise((r) => setTimeout(r, 10_000));
    const rssBefore = rssMb(edge.pid);
    phase = 'flood';
    timeline?.mark('flood starts');
    const rate = values.rate !== undefined ? Number(values.rate) : Math.round(capacity * factor);
    let rssMax = rssBefore;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssMb(edge!.pid))), 250);
    const sent = await flood(sender, edge.sipPort, rate, floodSeconds);
    clearInterval(sampler);
    phase = 'after';
    timeline?.mark('flood ends');
    const m = await edge.metrics();
    await new Promise((r) => setTimeout(r, afterSeconds * 1000));
    const rssAfter = rssMb(edge.pid);
    phase = 'done';
    await Promise.all(loops);
    timeline?.print();
    for (const p of phones) p.close();
    console.log(`flood: asked ${rate} INVITE/s (${(rate / capacity).toFixed(1)} x capacity) for ${floodSeconds} s, sent ${(sent / floodSeconds).toFixed(0)}/s from ${FLOOD_SOURCES} addresses`);
    console.log(`  flood guard: dropped ${metricValue(m, 'sipedge_flood_dropped_total')}, bans ${metricValue(m, 'sipedge_flood_bans_total')}, entries at the end ${metricValue(m, 'sipedge_flood_sources')}`);
    console.log(`legit REGISTERs (${phoneCount} phones, 1/s each, retransmitting): before ${summary(byPhase.before!)}`);
    console.log(`                                                  during ${summary(byPhase.flood!)}`);
    console.log(`                                                   after ${summary(byPhase.after!)}`);
    console.log(`edge RSS: before ${rssBefore.toFixed(0)} MB, max during ${rssMax.toFixed(0)} MB, ${afterSeconds} s after ${rssAfter.toFixed(0)} MB`);
    report.figure('flood', { askedPerSecond: rate, timesCapacity: rate / capacity, seconds: floodSeconds, sentPerSecond: sent / floodSeconds, sources: FLOOD_SOURCES });
    report.figure('floodGuard', { dropped: metricValue(m, 'sipedge_flood_dropped_total'), bans: metricValue(m, 'sipedge_flood_bans_total'), entriesAtEnd: metricValue(m, 'sipedge_flood_sources') });
    for (const [phase, rss] of [['before', rssBefore], ['flood', rssMax], ['after', rssAfter]] as const) {
      const results = byPhase[phase]!;
      const ok = results.filter((r): r is number => r !== undefined);
      report.addStep({
        series: 'legitimate phones',
        x: phase === 'flood' ? 'during (max RSS)' : phase === 'after' ? `${afterSeconds} s after` : phase,
        failedPct: results.length === 0 ? undefined : (100 * (results.length - ok.length)) / results.length,
        latencyMs: latencySummary(ok),
        memoryMb: rss,
        row: { registrations: results.length, succeeded: ok.length, summary: summary(results), rssMb: rss },
      });
    }
    await report.finish();
    return 0;
  } finally {
    await edge?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = await main();
