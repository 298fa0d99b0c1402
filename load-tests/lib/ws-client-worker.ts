// One worker process of load-tests/run-ws-clients.ts: holds a slice of SIP-over-WebSocket phones (RFC 7118, subprotocol
// `sip`, the `ws` package), each bound to its own 127.x source, registering with an MD5 digest and refreshing on a timer.
// Ramp pacing, the curve, the edge's RSS and the summary are the coordinator's; this reports counts and latencies.
import { createHash, randomBytes } from 'node:crypto';
import WebSocket from 'ws';

/** What the coordinator sends once, over IPC. */
export interface WorkerPlan {
  url: string;
  domain: string;
  /** The phones of this worker: extension, password and the source address it binds. */
  phones: Array<{ extension: string; password: string; source: string }>;
  /** Clients started per second by this worker. */
  rate: number;
  refreshMs: number;
  /** Each refresh waits refreshMs x (1 ± jitter), uniformly. */
  jitter: number;
  /** Expires asked in each REGISTER; seconds. */
  expires: number;
}

/** What the worker reports about once a second, over IPC; counts are totals, latencies are the new ones since last. */
export interface WorkerReport {
  type: 'report';
  started: number;
  registered: number;
  failed: number;
  dropped: number;
  /** Connections that failed before their phone first registered, and were made again. */
  reconnects: number;
  refreshes: number;
  initialMs: number[];
  refreshMs: number[];
  /** Why phones failed or dropped, by reason. */
  reasons: Record<string, number>;
}

/** RFC 3261 §17.1.2.2 Timer F: a transaction with no final answer after 64 x T1 has failed. */
const TIMER_F_MS = 32_000;
const USER_AGENT = 'sipedge-ws-load';
const RECONNECTS = 3;

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const token = (bytes: number): string => randomBytes(bytes).toString('hex');

type State = 'connecting' | 'registered' | 'failed' | 'dropped';

/** One phone: one WebSocket, one Call-ID, one registration refreshed until the worker stops. */
class WsPhone {
  state: State = 'connecting';
  private ws: WebSocket | undefined;
  private readonly callId = `${token(8)}@ws-load`;
  private readonly fromTag = token(4);
  /** RFC 7118 §5: the Via host of a WebSocket client is usually a random .invalid name. */
  private readonly host = `${token(5)}.invalid`;
  private cseq = 0;
  private nonce: string | undefined;
  private opaque: string | undefined;
  private nc = 0;
  /** The transaction in flight: its CSeq, when the registration (or refresh) started, and its Timer F. */
  private pending: { cseq: number; started: number; timer: NodeJS.Timeout; challenged: boolean } | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private isRefresh = false;
  /** Reconnections so far (before the first registration). */
  private attempts = 0;

  constructor(
    private readonly plan: WorkerPlan,
    private readonly extension: string,
    private readonly password: string,
    private readonly source: string,
    private readonly stats: Stats,
  ) {}

  start(): void {
    const ws = new WebSocket(this.plan.url, 'sip', { localAddress: this.source, perMessageDeflate: false });
    this.ws = ws;
    ws.on('open', () => this.send(false));
    ws.on('message', (data: Buffer) => this.onMessage(data.toString('latin1')));
    ws.on('error', (e: Error & { code?: string }) => this.broken(`ws error ${e.code ?? e.message}`));
    ws.on('close', (code: number) => this.broken(`closed by the edge (${code})`));
  }

  stop(): void {
    clearTimeout(this.refreshTimer);
    if (this.pending) clearTimeout(this.pending.timer);
    this.ws?.removeAllListeners('close');
    this.ws?.removeAllListeners('error');
    this.ws?.on('error', () => undefined);
    this.ws?.terminate();
  }

  /** Sends REGISTER; with credentials when a nonce is known (RFC 7616 §3.4: nc counts up per nonce). */
  private send(challenged: boolean): void {
    const cseq = ++this.cseq;
    const started = this.pending?.started ?? performance.now();
    if (this.pending) clearTimeout(this.pending.timer);
    const timer = setTimeout(() => this.lost('no final answer within Timer F'), TIMER_F_MS);
    this.pending = { cseq, started, timer, challenged };
    const uri = `sip:${this.plan.domain}`;
    const aor = `sip:${this.extension}@${this.plan.domain}`;
    const lines = [
      `REGISTER ${uri} SIP/2.0`,
      `Via: SIP/2.0/WS ${this.host};branch=z9hG4bK${token(6)}`,
      'Max-Forwards: 70',
      `From: <${aor}>;tag=${this.fromTag}`,
      `To: <${aor}>`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${this.extension}@${this.host};transport=ws>;expires=${this.plan.expires}`,
      `Expires: ${this.plan.expires}`,
      `User-Agent: ${USER_AGENT}`,
    ];
    if (this.nonce !== undefined) {
      const nc = (++this.nc).toString(16).padStart(8, '0');
      const cnonce = token(6);
      const ha1 = md5(`${this.extension}:${this.plan.domain}:${this.password}`);
      const response = md5(`${ha1}:${this.nonce}:${nc}:${cnonce}:auth:${md5(`REGISTER:${uri}`)}`);
      lines.push(
        `Authorization: Digest username="${this.extension}", realm="${this.plan.domain}", nonce="${this.nonce}", uri="${uri}", ` +
          `response="${response}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}"${this.opaque === undefined ? '' : `, opaque="${this.opaque}"`}`,
      );
    }
    lines.push('Content-Length: 0', '', '');
    this.ws!.send(lines.join('\r\n'));
  }

  private onMessage(text: string): void {
    const p = this.pending;
    if (p === undefined || !text.startsWith('SIP/2.0 ')) return;
    const cseq = /\r\nCSeq:\s*(\d+)/i.exec(text);
    if (cseq === null || Number(cseq[1]) !== p.cseq) return;
    const status = Number(text.slice(8, 11));
    if (status < 200) return;
    if (status === 401 && !p.challenged) {
      // The MD5 challenge of the set (the edge offers SHA-256 first, then MD5; RFC 8760 §2.4: pick one we support).
      const md5Challenge = text.split('\r\n').find((l) => /^WWW-Authenticate:/i.test(l) && /algorithm=MD5\b/i.test(l));
      const nonce = md5Challenge && /nonce="([^"]+)"/.exec(md5Challenge)?.[1];
      if (!nonce) return this.lost('401 without an MD5 challenge');
      this.nonce = nonce;
      this.opaque = /opaque="([^"]*)"/.exec(md5Challenge)?.[1];
      this.nc = 0;
      return this.send(true);
    }
    clearTimeout(p.timer);
    this.pending = undefined;
    if (status !== 200) return this.lost(`answered ${status}`);
    const ms = performance.now() - p.started;
    if (this.isRefresh) {
      this.stats.refreshes++;
      this.stats.refreshMs.push(ms);
    } else {
      this.stats.registered++;
      this.stats.initialMs.push(ms);
    }
    this.state = 'registered';
    this.isRefresh = true;
    const { refreshMs, jitter } = this.plan;
    this.refreshTimer = setTimeout(() => this.send(false), refreshMs * (1 + jitter * (2 * Math.random() - 1)));
  }

  /**
   * The connection failed or closed. Before the phone first registered it reconnects after 1-3 s, at most
   * RECONNECTS times, as a WebSocket phone recovers a failed flow (RFC 5626 §4.5; counted in the summary); after, it is
   * dropped.
   */
  private broken(why: string): void {
    if (this.state === 'connecting' && this.attempts < RECONNECTS) {
      this.attempts++;
      this.stats.reconnects++;
      this.stop();
      this.pending = undefined;
      this.refreshTimer = setTimeout(() => this.start(), 1000 + 2000 * Math.random());
      return;
    }
    this.lost(why);
  }

  /** The phone stops: one that had registered counts as dropped (its binding is gone or stale), else as failed. */
  private lost(why: string): void {
    if (this.state === 'failed' || this.state === 'dropped') return;
    if (this.state === 'registered') this.stats.registered--;
    this.state = this.isRefresh ? 'dropped' : 'failed';
    if (this.state === 'dropped') this.stats.dropped++;
    else this.stats.failed++;
    this.stats.reasons[why] = (this.stats.reasons[why] ?? 0) + 1;
    this.stop();
  }
}

/** A worker's running totals: the report without its type. */
type Stats = Omit<WorkerReport, 'type'>;

function run(plan: WorkerPlan): void {
  const stats: Stats = { started: 0, registered: 0, failed: 0, dropped: 0, reconnects: 0, refreshes: 0, initialMs: [], refreshMs: [], reasons: {} };
  const phones = plan.phones.map((p) => new WsPhone(plan, p.extension, p.password, p.source, stats));
  const t0 = performance.now();
  // Bounded ramp: phone i starts at t0 + i / rate, checked every 10 ms.
  const ramp = setInterval(() => {
    const due = Math.min(phones.length, Math.floor(((performance.now() - t0) / 1000) * plan.rate) + 1);
    while (stats.started < due) phones[stats.started++]!.start();
    if (stats.started >= phones.length) clearInterval(ramp);
  }, 10);
  const report = () => {
    const r: WorkerReport = { type: 'report', ...stats };
    process.send!(r);
    stats.initialMs = [];
    stats.refreshMs = [];
  };
  const reporter = setInterval(report, 1000);
  process.on('message', (m: { type: string }) => {
    if (m.type !== 'stop') return;
    clearInterval(ramp);
    clearInterval(reporter);
    report();
    for (const p of phones) p.stop();
    process.disconnect();
  });
}

process.once('message', (plan: WorkerPlan) => run(plan));
