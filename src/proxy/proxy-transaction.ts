// One proxied request (RFC 3261 §16): the server transaction in, a client transaction per branch out, the response
// context (§16.7), CANCEL (§16.10), Timer C (§16.6 step 11) and one failover to another upstream (DESIGN.md §6).
// Where a request goes (targets, Record-Route, Via) is proxy.ts's; retransmissions and Timers A-K are transaction/'s.
import { finalClassIndex, type HistogramCell } from '../observability/fast-histogram.ts';
import { buildCancel, forwardRequest, forwardResponse, type ResponseEdit } from '../sip/forward.ts';
import { parseMessage } from '../sip/parser.ts';
import { newBranch } from '../sip/random.ts';
import type { SipMessage } from '../sip/types.ts';
import type { ClientTransactionHandle, ClientTransactionHandlers } from '../transaction/client-transaction.ts';
import type { ServerTransaction } from '../transaction/types.ts';
import type { Flow } from '../transport/flow.ts';
import type { MediaProfile } from '../relay/anchoring.ts';
import type { Upstream } from './upstream-set.ts';

/** Where one branch goes. */
export interface BranchTarget {
  flow: Flow;
  /** New Request-URI (a registered contact, §16.5); absent: unchanged (an upstream, or loose routing in dialog). */
  requestUri?: string;
  /** Replacement Route set (a binding's Path, or what is left after our own Route values); absent: unchanged. */
  route?: string[];
  /** Set when the target is an upstream: a timeout or 503 may fail over (out-of-dialog requests only). */
  upstream?: Upstream;
  /** Record-Route values to add (dialog-creating requests), top first. */
  recordRoute?: string[];
  /** Topology hiding towards a user: send only our Via (the response gets the original Vias back) ... */
  dropVias?: boolean;
  /** ... and this Contact instead of the upstream's. */
  contact?: string;
  /** The body this branch carries instead of the request's (its SDP rewritten by the media relay). */
  body?: Buffer;
  /** Media anchoring of this branch (media-anchor.ts); absent: the request carries no media to anchor. */
  media?: BranchMedia;
  /** Header lines added to this branch's request (the internal hop's Sipedge-Hop). */
  headers?: string[];
}

/** The far side of one branch as media anchoring sees it. */
export interface BranchMedia {
  /** The media profile of the target (a browser over WebSocket: webrtc; a desk phone or the PBX: rtp). */
  readonly profile: MediaProfile;
  /** Its SDP goes through rtpengine (offer on the way out, answer on the way back). */
  readonly anchored: boolean;
  /** rtpengine's via-branch for this branch's offer and answer, when one request made offers of two profiles. */
  readonly viaBranch?: string;
}

/** What media anchoring does with the responses of one proxied request (media-anchor.ts). */
export interface MediaSession {
  /** The body for the upstream side of a response on branch b: undefined keeps it; a promise holds the relay back. */
  responseBody(b: Branch, res: SipMessage): Buffer | undefined | Promise<Buffer | undefined>;
  /** The rewritten body of a 2xx already relayed once (its retransmission), or undefined. */
  cachedBody(res: SipMessage): Buffer | undefined;
  /** The final status the request was answered with (a failure ends a call this request anchored). */
  finished(status: number): void;
}

/** How responses are edited on the way back (topology hiding): see ProxyTx.respEdit. */
export type ResponseEditor = (res: SipMessage) => ResponseEdit | undefined;

/** What a ProxyTx needs from the proxy that owns it. */
export interface ProxyHost {
  /** Starts a client transaction (transaction/ClientTransactions.send). */
  send(bytes: Buffer, meta: { method: string; branch: string; flow: Flow; sentBy: string }, tx: ProxyTx, b: Branch | undefined): ClientTransactionHandle;
  /** Our Via value and sent-by for a request leaving on flow. */
  via(flow: Flow, branch: string): { value: string; sentBy: string };
  /** Schedules t (a timer of one branch) to fire `ms` from now. */
  schedule(t: BranchTimer, ms: number): void;
  /** Keeps what 2xx retransmissions on b's branch need (32 s): a, not the ProxyTx with its request. */
  accepted(b: Branch, a: AcceptedInvite): void;
  /** Another upstream for this request after `failed` timed out or answered 503 (the extension moves), or undefined. */
  failover(tx: ProxyTx, failed: Upstream): Promise<BranchTarget | undefined>;
  readonly failoverTimeoutMs: number;
  readonly timerCMs: number;
  /** INVITE latency cells: to the first relayed provisional, and to the final response by class (finalClassIndex). */
  readonly inviteTimes: { provisional: HistogramCell; final: HistogramCell[] };
  onError(err: unknown): void;
}

/** One forwarded copy of the request (§16.6); also the handlers of its client transaction (no closures per branch). */
export class Branch implements ClientTransactionHandlers {
  handle: ClientTransactionHandle | undefined = undefined;
  /** 0 sent, 1 provisional received, 2 final (or given up). */
  state = 0;
  /** Any response (100 included) arrived: the target is alive, no failover on silence. */
  heard = false;
  /** §16.10: a CANCEL waits for the first provisional (§9.1: no CANCEL before one). */
  cancelPending = false;
  cancelSent = false;
  /** The failover timer (before any response) or Timer C (INVITE, after a provisional); undefined: none. */
  timer: BranchTimer | undefined = undefined;

  readonly flow: Flow;
  readonly upstream: Upstream | undefined;

  constructor(
    readonly tx: ProxyTx,
    readonly id: string,
    readonly bytes: Buffer,
    /** Where it went: a failover re-sends its body and media to the next upstream. */
    readonly target: BranchTarget,
  ) {
    this.flow = target.flow;
    this.upstream = target.upstream;
  }

  onResponse(res: SipMessage): void {
    this.tx.onResponse(this, res);
  }

  onTimeout(): void {
    this.tx.onTimeout(this);
  }

  onTransportError(): void {
    this.tx.onTimeout(this);
  }

  onTimer(t: BranchTimer): void {
    if (t !== this.timer || this.state === 2) return;
    this.timer = undefined;
    this.tx.branchTimer(this);
  }

  /** Stops the branch's timer: the wheel keeps its entry until due (lazy deletion), but no longer this branch. */
  stopTimer(): void {
    if (this.timer === undefined) return;
    this.timer.branch = undefined;
    this.timer = undefined;
  }
}

/**
 * One branch timer as the proxy's timer wheel holds it. Timer C is due minutes after the provisional that set it
 * (§16.6 step 11: > 3 min) and the wheel drops cancelled entries only when their bucket comes due, so it holds this
 * small object, not the Branch: a call answered in a second does not keep its request, branches and transactions alive
 * for Timer C's 185 s (~6 KB a call in a heap snapshot, README "Calls through the proxy": at 3,000 calls/s ~3.3 GB).
 */
export class BranchTimer {
  constructor(public branch: Branch | undefined) {}

  fire(): void {
    this.branch?.onTimer(this);
  }
}

/**
 * What a 2xx-answered INVITE keeps for its 2xx retransmissions (§16.7 step 9, RFC 6026 Timer L: 32 s): the caller's
 * flow, the response edits and the media session. Not the ProxyTx: its request, forwarded bytes and branches are
 * garbage once the 2xx has been relayed.
 */
export class AcceptedInvite {
  constructor(
    private readonly flow: Flow,
    private readonly respEdit: ResponseEditor | undefined,
    private readonly media: MediaSession | undefined,
    /** Relays of this request still waiting for the media relay: a retransmission leaves after them. */
    private chain: Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** A retransmitted 2xx goes on as its first copy did: after it, with the same rewritten body. */
  relayRetransmission(res: SipMessage): void {
    const media = this.media;
    if (media === undefined) {
      this.flow.send(responseBytes(res, this.respEdit, undefined));
      return;
    }
    this.chain = this.chain
      .then(() => {
        this.flow.send(responseBytes(res, this.respEdit, media.cachedBody(res)));
      })
      .catch(this.onError);
  }
}

/** A downstream response as the upstream side gets it (§16.7 steps 3-9, plus topology hiding when asked), with body. */
function responseBytes(res: SipMessage, respEdit: ResponseEditor | undefined, body: Buffer | undefined): Buffer {
  const edit = respEdit?.(res);
  return forwardResponse(res, body === undefined ? edit : { ...edit, body });
}

/** Generated final statuses (when no response is relayed). */
const TIMEOUT = { status: 408, reason: 'Request Timeout' } as const;
const TERMINATED = { status: 487, reason: 'Request Terminated' } as const;
const UNAVAILABLE = { status: 480, reason: 'Temporarily Unavailable' } as const;

export class ProxyTx {
  readonly branches: Branch[] = [];
  readonly isInvite: boolean;
  private pending = 0;
  /** The best final response so far (§16.7 step 6), or a generated status. */
  private best: SipMessage | undefined = undefined;
  private generated: { status: number; reason: string } | undefined = undefined;
  private finalSent = false;
  private cancelled = false;
  private failedOver = false;
  /** A failover is being looked up (async): the context must not finish meanwhile. */
  private choosing = false;
  /** Media anchoring of this request's SDP (set by the proxy before start), or undefined. */
  media: MediaSession | undefined = undefined;
  /** With media: responses leave in arrival order after the relay rewrote their SDP (relay() chains them). */
  private chain: Promise<void> = Promise.resolve();
  /** When the proxy took the request (performance.now(), ms), for the INVITE latency histograms. */
  private readonly startedAt = performance.now();
  private provisionalTimed = false;

  constructor(
    private readonly host: ProxyHost,
    readonly server: ServerTransaction,
    /** The AOR whose upstream binding moves on failover; undefined when failover does not apply. */
    readonly aor: string | undefined,
    /** Header names dropped from the forwarded request (our own Proxy-Authorization once checked). */
    private readonly drop: string[] | undefined = undefined,
    /** Edits of each relayed response (restored Vias, masked Contact); undefined: §16.7 defaults only. */
    private readonly respEdit: ResponseEditor | undefined = undefined,
  ) {
    this.isInvite = server.request.method === 'INVITE';
  }

  get isCancelled(): boolean {
    return this.cancelled;
  }

  /** Forks to every target at once (§16.5 parallel search); no target: 480. */
  start(targets: BranchTarget[]): void {
    if (targets.length === 0) {
      this.timeFinal(UNAVAILABLE.status);
      this.server.respond(UNAVAILABLE.status, UNAVAILABLE.reason);
      return;
    }
    for (const t of targets) this.fork(t);
  }

  private fork(t: BranchTarget): void {
    const req = this.server.request;
    const id = newBranch();
    const via = this.host.via(t.flow, id);
    const bytes = forwardRequest(req, {
      requestUri: t.requestUri,
      via: via.value,
      recordRoute: t.recordRoute,
      route: t.route,
      removeHeaders: this.drop,
      dropVias: t.dropVias,
      contact: t.contact,
      body: t.body,
      extraHeaders: t.headers,
    });
    const b = new Branch(this, id, bytes, t);
    this.branches.push(b);
    this.pending++;
    // Silence from an upstream fails over well before Timer B (32 s); any target is bounded by it anyway.
    if (t.upstream !== undefined) this.setTimer(b, this.host.failoverTimeoutMs);
    b.handle = this.host.send(bytes, { method: req.method, branch: id, flow: t.flow, sentBy: via.sentBy }, this, b);
  }

  /** A response on branch b (every provisional, the final once; retransmitted finals are absorbed below us). */
  onResponse(b: Branch, res: SipMessage): void {
    if (b.state === 2) return;
    const status = res.status;
    b.heard = true;
    if (status === 100) {
      // §16.7 step 2: 100 Trying is hop by hop, never forwarded. It proves the target alive: no failover on silence.
      if (b.state === 0) b.stopTimer();
      return;
    }
    if (status < 200) {
      b.state = 1;
      // §16.6 step 11 / §16.7 step 2: Timer C restarts on each provisional (INVITE); non-INVITE needs none.
      if (this.isInvite) this.setTimer(b, this.host.timerCMs);
      else b.stopTimer();
      if (b.cancelPending) this.sendCancel(b);
      // §16.7 step 5: provisionals other than 100 are forwarded at once.
      if (this.finalSent) return;
      if (this.isInvite && !this.provisionalTimed) {
        this.provisionalTimed = true;
        this.host.inviteTimes.provisional.observe((performance.now() - this.startedAt) / 1000);
      }
      this.relay(b, res);
      return;
    }
    this.settle(b);
    if (status < 300) {
      // §16.7 step 5: every 2xx is forwarded at once (a later one from another fork too); §16.7 step 10: CANCEL the rest.
      this.finalSent = true;
      this.timeFinal(status);
      this.relay(b, res);
      if (this.isInvite) {
        this.host.accepted(b, new AcceptedInvite(this.server.flow, this.respEdit, this.media, this.chain, this.host.onError));
        this.cancelPending();
      }
      return;
    }
    if (status === 503 && this.mayFailOver(b)) {
      void this.failOver(b);
      return;
    }
    // §16.7 step 5 / §16.7 step 10: a 6xx ends the search; the other branches are cancelled.
    if (status >= 600 && this.isInvite) this.cancelPending();
    if (this.best === undefined || better(status, this.best.status)) {
      this.best = res;
      this.generated = undefined;
    }
    this.maybeFinish();
  }

  /** Timer B/F of b's client transaction (no final response), or a transport error: as a 408 (§16.7 step 2, §8.1.3.1). */
  onTimeout(b: Branch): void {
    if (b.state === 2) return;
    this.settle(b);
    if (this.mayFailOver(b)) {
      void this.failOver(b);
      return;
    }
    this.generate(TIMEOUT);
    this.maybeFinish();
  }

  /** b's own timer: the failover timer (silence) or Timer C. */
  branchTimer(b: Branch): void {
    if (b.state === 0 && !b.heard) {
      // The target said nothing at all within proxy.failoverTimeoutSeconds: give up on it.
      b.handle?.cancelTimers();
      if (this.cancelled) {
        this.settle(b);
        this.generate(TERMINATED);
        this.maybeFinish();
        return;
      }
      this.onTimeout(b);
      return;
    }
    // §16.6 step 11 Timer C: with a provisional, CANCEL the branch; without one, act as on a 408. The branch is
    // given up either way (a 487 that follows arrives as a stray response).
    if (b.state === 1) this.sendCancel(b);
    b.handle?.cancelTimers();
    this.settle(b);
    this.generate(TIMEOUT);
    this.maybeFinish();
  }

  /** §16.10: a CANCEL for this INVITE arrived (and got its 200): cancel every pending branch. */
  cancel(): void {
    if (this.finalSent || this.cancelled) return;
    this.cancelled = true;
    this.cancelPending();
    if (this.pending === 0 && !this.choosing) {
      this.generate(TERMINATED);
      this.maybeFinish();
    }
  }

  /** Cancels every branch still waiting: now when it has a provisional, else after its first one (§9.1). */
  private cancelPending(): void {
    for (const b of this.branches) {
      if (b.state === 2 || b.cancelSent) continue;
      if (b.state === 1) this.sendCancel(b);
      else b.cancelPending = true;
    }
  }

  private sendCancel(b: Branch): void {
    if (b.cancelSent || !this.isInvite) return;
    b.cancelSent = true;
    b.cancelPending = false;
    try {
      // §9.1: the CANCEL has the INVITE's Request-URI, Call-ID, From, To, CSeq number, Route and top Via (our branch).
      const bytes = buildCancel(parseMessage(b.bytes));
      const via = this.host.via(b.flow, b.id);
      this.host.send(bytes, { method: 'CANCEL', branch: b.id, flow: b.flow, sentBy: via.sentBy }, this, CANCEL_SINK);
    } catch (err) {
      this.host.onError(err);
    }
  }

  private settle(b: Branch): void {
    b.state = 2;
    b.stopTimer();
    this.pending--;
  }

  private setTimer(b: Branch, ms: number): void {
    b.stopTimer();
    b.timer = new BranchTimer(b);
    this.host.schedule(b.timer, ms);
  }

  private mayFailOver(b: Branch): boolean {
    return b.upstream !== undefined && this.aor !== undefined && !this.failedOver && !this.cancelled && !this.finalSent;
  }

  /** DESIGN.md §6: one retry on the next healthy upstream; the extension's binding moves with it. */
  private async failOver(b: Branch): Promise<void> {
    this.failedOver = true;
    this.choosing = true;
    let next: BranchTarget | undefined;
    try {
      next = await this.host.failover(this, b.upstream!);
    } catch (err) {
      this.host.onError(err);
    }
    this.choosing = false;
    if (next !== undefined && !this.cancelled && !this.finalSent) {
      // The same SDP (rewritten for an upstream's profile) goes to the next upstream.
      this.fork({ ...next, body: b.target.body, media: b.target.media });
      return;
    }
    this.generate(this.cancelled ? TERMINATED : { status: 503, reason: 'Service Unavailable' });
    this.maybeFinish();
  }

  /**
   * A downstream response as the upstream side gets it (§16.7 steps 3-9, plus topology hiding when asked), with body
   * as its body (an SDP the relay rewrote) or, for a retransmitted 2xx, the body its first copy was given.
   */
  bytesOf(res: SipMessage, body?: Buffer): Buffer {
    return responseBytes(res, this.respEdit, body ?? this.media?.cachedBody(res));
  }

  /** Sends res on to the caller: at once, or with media after the relay rewrote its SDP and after earlier ones. */
  private relay(b: Branch | undefined, res: SipMessage): void {
    const media = this.media;
    if (media === undefined) {
      this.server.relay(res.status, this.bytesOf(res));
      return;
    }
    this.chain = this.chain
      .then(async () => {
        const body = b === undefined ? undefined : await media.responseBody(b, res);
        this.server.relay(res.status, this.bytesOf(res, body));
        if (res.status >= 200) media.finished(res.status);
      })
      .catch((err: unknown) => this.host.onError(err));
  }

  /** Answers the caller with a generated status, after any response still waiting for the relay. */
  private respond(g: { status: number; reason: string }): void {
    const media = this.media;
    if (media === undefined) {
      this.server.respond(g.status, g.reason);
      return;
    }
    this.chain = this.chain
      .then(() => {
        this.server.respond(g.status, g.reason);
        media.finished(g.status);
      })
      .catch((err: unknown) => this.host.onError(err));
  }

  private generate(g: { status: number; reason: string }): void {
    if (this.best !== undefined && !better(g.status, this.best.status)) return;
    if (this.generated !== undefined && !better(g.status, this.generated.status)) return;
    this.best = undefined;
    this.generated = g;
  }

  /** §16.7 step 6: when no branch is pending, the best final response goes upstream. */
  private maybeFinish(): void {
    if (this.pending > 0 || this.choosing || this.finalSent) return;
    this.finalSent = true;
    const best = this.best;
    if (best !== undefined) {
      // §16.7 step 6: a 503 is not passed on (it would make the client avoid this edge); 500 instead.
      this.timeFinal(best.status === 503 ? 500 : best.status);
      if (best.status === 503) this.respond({ status: 500, reason: 'Server Internal Error' });
      else this.relay(undefined, best);
      return;
    }
    const g = this.generated ?? TIMEOUT;
    this.timeFinal(g.status);
    this.respond(g);
  }

  /** sipedge_proxy_invite_final_seconds: the caller's final response is going out now. */
  private timeFinal(status: number): void {
    if (this.isInvite) this.host.inviteTimes.final[finalClassIndex(status)]!.observe((performance.now() - this.startedAt) / 1000);
  }
}

/** The CANCEL's own client transaction: its response only ends it (§16.10: the INVITE's final comes separately). */
const CANCEL_SINK = undefined;

/**
 * §16.7 step 6: 6xx wins; otherwise the lowest class, and within 4xx the challenges (401, 407) that let the caller
 * retry. True when status a should replace the current best b.
 */
function better(a: number, b: number): boolean {
  if (b >= 600) return false;
  if (a >= 600) return true;
  const ca = Math.floor(a / 100);
  const cb = Math.floor(b / 100);
  if (ca !== cb) return ca < cb;
  if (ca === 4) return (a === 401 || a === 407) && b !== 401 && b !== 407;
  return false;
}
