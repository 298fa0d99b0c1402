// REGISTER processing (RFC 3261 §10.3): authenticate, then add/refresh/remove bindings with Call-ID/CSeq ordering,
// min/max expiry, Path and RFC 5626 outbound; every refusal is a row of REFUSALS. Bindings live in store/ (the
// location service); digest and identities live in auth/.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { Proof, type AuthReads, type AuthenticateInput, type DigestAuthenticator, type DigestRefusal } from '../auth/authenticator.ts';
import type { Identities, UriIdentity } from '../auth/identity.ts';
import { parseUri } from '../sip/uri.ts';
import type { Contact, SipAnswer, SipMessage, SipUri } from '../sip/types.ts';
import { errorResponse } from '../transaction/error-response.ts';
import type { ServerTransaction } from '../transaction/types.ts';
import type { Flow } from '../transport/flow.ts';
import { chain, type MaybePromise } from '../store/maybe-promise.ts';
import type { Binding, BindingSet, BindingStore } from '../store/types.ts';
import { bindingKey, contactLine, instanceOf, regIdOf } from './contact-binding.ts';
import type { NodeIdentity } from './node-registry.ts';

/** Option tags the registrar understands in Require (RFC 3327 path, RFC 5626 outbound). */
const SUPPORTED = new Set(['path', 'outbound']);
/** Compare-and-set attempts before answering 500 (concurrent REGISTERs for one AOR on several nodes). */
const MAX_CAS_ATTEMPTS = 8;

/** Why the registrar refuses a REGISTER itself (after Kamailio registrar's error codes): the log's reason field. */
type Refusal =
  | 'bad-extension'
  | 'unsupported-uri-scheme'
  | 'domain-not-served'
  | 'not-your-aor'
  | 'invalid-wildcard'
  | 'invalid-cseq'
  | 'invalid-expires'
  | 'interval-too-brief'
  | 'invalid-reg-id'
  | 'concurrent-update';

/** The single place where each refusal's status and reason phrase are decided; extra headers come from the site. */
const REFUSALS = {
  // RFC 3261 §8.2.2.3: a Require option tag we do not support; Unsupported lists them.
  'bad-extension': { status: 420, reason: 'Bad Extension' },
  // §10.3 step 3: the To URI (the address-of-record) must be sip: or sips:.
  'unsupported-uri-scheme': { status: 416, reason: 'Unsupported URI Scheme' },
  // §10.3 step 1: the domain is not one this registrar serves (neither a tenant's nor the shared domain).
  'domain-not-served': { status: 404, reason: 'Domain Not Served' },
  // §10.3 step 3: the authenticated user may only register its own address-of-record.
  'not-your-aor': { status: 403, reason: 'Not Your Address-of-Record' },
  // §10.3 step 6: "*" is valid only alone and with Expires: 0.
  'invalid-wildcard': { status: 400, reason: 'Invalid Wildcard Contact' },
  // §10.3 step 7 (removal) and step 8: same Call-ID with a CSeq not above the stored one is out of order.
  'invalid-cseq': { status: 400, reason: 'Invalid CSeq Number' },
  'invalid-expires': { status: 400, reason: 'Invalid Expires' },
  // §10.3 step 7: shorter than registrar.minExpires; Min-Expires says the least we accept.
  'interval-too-brief': { status: 423, reason: 'Interval Too Brief' },
  // RFC 5626 §6: reg-id must be a number.
  'invalid-reg-id': { status: 400, reason: 'Invalid reg-id' },
  // Every compare-and-set round lost to another writer; Retry-After: 1.
  'concurrent-update': { status: 500, reason: 'Concurrent Update' },
} as const satisfies Record<Refusal, SipAnswer>;

export interface RegistrarDeps {
  config: Config['registrar'];
  /** Which tenant and extension the To URI names (auth/identity.ts). */
  identities: Identities;
  bindings: BindingStore;
  auth: DigestAuthenticator;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  /** This node's id and internal hop address, stored with bindings whose flow it holds. */
  node: NodeIdentity;
}

/** What one REGISTER asks for: its contacts, its Expires header, its Supported option tags (lower case). */
interface BindingUpdate {
  contacts: Contact[];
  headerExpires: number | undefined;
  supported: string[];
}

/** The binding list apply() made: changed = it must be written; outbound = RFC 5626 was applied to a contact. */
interface Applied {
  bindings: Binding[];
  changed: boolean;
  outbound: boolean;
}

/**
 * The store reads of one REGISTER, issued before the source's ban check answers (app.ts) so that on Redis they leave
 * in one pipeline with it: the To URI's identity, and the reads for the identity guessed from the last answer for
 * its host (Identities.guess), used only when the identity read agrees.
 */
export interface RegisterReads {
  toUri: SipUri;
  identity: MaybePromise<UriIdentity | undefined>;
  guess?: IdentityReads;
}

/** What the 200 leg reads for one identity, issued together: the digest's reads and the AOR's bindings. */
interface IdentityReads {
  id: UriIdentity;
  auth: AuthReads;
  bindings: MaybePromise<BindingSet>;
}

/** A §10.3 refusal found while applying the contacts, with the header lines its response carries. */
interface Refused {
  refused: Refusal;
  headers?: string[];
}

export class Registrar {
  /** Flow id -> AORs with a binding that dies with that flow (outbound over TCP/WS, and every WS binding). */
  private readonly flowAors = new Map<string, Set<string>>();
  private readonly responses = new Map<number, { inc(): void }>();

  constructor(private readonly d: RegistrarDeps) {}

  /**
   * Handles one REGISTER server transaction; never rejects (errors become responses). When every store answers with a
   * value (the embedded store) the REGISTER is answered before this returns, with no promise made; otherwise the
   * returned promise settles once it is answered. `reads`: readAhead()'s, when the caller issued them.
   */
  process(tx: ServerTransaction, reads?: RegisterReads): MaybePromise<void> {
    let pending: MaybePromise<void>;
    try {
      pending = this.register(tx, reads);
    } catch (e) {
      this.fail(tx, e);
      return;
    }
    if (pending instanceof Promise) return pending.catch((e: unknown) => this.fail(tx, e));
  }

  /**
   * Issues the store reads process() will need, without waiting: the identity the To URI names and, on a store that
   * answers with promises (Redis), the digest's and the bindings' reads for the identity guessed from the last answer
   * for its host. So a REGISTER's reads (with the ban check issued next to them) cost one Redis round trip and its
   * writes one more (DigestAuthenticator.confirm). Undefined when the To URI is unusable (process() answers that).
   */
  readAhead(tx: ServerTransaction): RegisterReads | undefined {
    let toUri: SipUri;
    try {
      toUri = parseUri(tx.request.to.uri, 'To');
    } catch {
      return undefined;
    }
    if (toUri.scheme !== 'sip' && toUri.scheme !== 'sips') return undefined;
    const identity = this.d.identities.of(toUri.user, toUri.host);
    if (!(identity instanceof Promise)) return { toUri, identity };
    identity.catch(() => {}); // Answered by process(), or dropped with the request when its source is banned.
    const guessed = this.d.identities.guess(toUri.user, toUri.host);
    let guess: IdentityReads | undefined;
    try {
      guess = guessed === undefined ? undefined : this.readsFor(tx, guessed);
    } catch {
      // A malformed Authorization: process() meets it again and answers 400, unless the ban check drops the request.
    }
    return { toUri, identity, guess };
  }

  private register(tx: ServerTransaction, reads: RegisterReads | undefined): MaybePromise<void> {
    const req = tx.request;
    const required = req.headerValues('require');
    const unsupported = required.length === 0 ? required : required.filter((t) => !SUPPORTED.has(t.toLowerCase()));
    if (unsupported.length > 0) {
      this.refuse(tx, 'bad-extension', [`Unsupported: ${unsupported.join(', ')}`]);
      return;
    }
    // §10.3 step 1-3: the To header names the address-of-record; its domain picks the tenant (and realm).
    const toUri = reads?.toUri ?? parseUri(req.to.uri, 'To');
    if (toUri.scheme !== 'sip' && toUri.scheme !== 'sips') {
      this.refuse(tx, 'unsupported-uri-scheme');
      return;
    }
    const identity = reads !== undefined ? reads.identity : this.d.identities.of(toUri.user, toUri.host);
    return chain(identity, (id) => this.withIdentity(tx, id, reads?.guess));
  }

  /**
   * §10.3 step 2 on: the tenant the AOR's domain (or the shared domain's username) names, then digest. A shared-domain
   * name of no tenant is still challenged (no enumeration); the digest then fails as unknown-user. The digest's and
   * the bindings' reads are `guess`'s when made for this identity, else issued here together.
   */
  private withIdentity(tx: ServerTransaction, id: UriIdentity | undefined, guess: IdentityReads | undefined): MaybePromise<void> {
    if (id === undefined) {
      this.refuse(tx, 'domain-not-served');
      return;
    }
    const input = this.authInput(tx, id);
    const reads = guess !== undefined && sameIdentity(guess.id, id) ? guess : this.readsFor(tx, id, input);
    return chain(this.d.auth.prove(input, reads?.auth), (p) => this.proven(tx, id, p, reads));
  }

  private authInput(tx: ServerTransaction, id: UriIdentity): AuthenticateInput {
    const req = tx.request;
    return {
      method: 'REGISTER',
      credentials: req.credentials(false),
      realm: id.realm,
      tenant: id.tenant,
      source: req.source!,
      userAgent: req.userAgent,
    };
  }

  /** The 200 leg's reads for `id`, issued together; undefined when the credentials alone decide (the 401 leg). */
  private readsFor(tx: ServerTransaction, id: UriIdentity, input = this.authInput(tx, id)): IdentityReads | undefined {
    if (id.tenant === undefined) return undefined;
    const auth = this.d.auth.readAhead(input);
    if (auth === undefined) return undefined;
    const bindings = this.d.bindings.get(`${id.ext}@${id.tenant.code}`, auth.now);
    if (bindings instanceof Promise) bindings.catch(() => {}); // Used by proven(), or not at all when the digest fails.
    return { id, auth, bindings };
  }

  /**
   * The digest was checked: a failure is answered; a proof is confirmed (nc consumed, success recorded) together with
   * the binding update (one Redis round trip), or alone when the REGISTER is refused or changes no binding.
   */
  private proven(tx: ServerTransaction, id: UriIdentity, p: Proof | DigestRefusal, reads: IdentityReads | undefined): MaybePromise<void> {
    if (!(p instanceof Proof)) {
      this.authRefused(tx, id, p);
      return;
    }
    const { tenant, ext } = id;
    if (!tenant || p.account.ext !== ext || p.account.tenant !== tenant.code) {
      return this.confirmed(tx, id, p, () => this.refuse(tx, 'not-your-aor'));
    }
    const aor = `${ext}@${tenant.code}`;
    const update = this.updateOf(tx);
    const now = reads?.auth.now ?? this.d.clock.now();
    const current = reads?.bindings ?? this.d.bindings.get(aor, now);
    return chain(current, (set) => {
      const result = this.apply(tx.request, tx.flow, update.contacts, update.headerExpires, update.supported.includes('outbound'), set.bindings, now);
      if ('refused' in result) return this.confirmed(tx, id, p, () => this.refuse(tx, result.refused, result.headers));
      if (!result.changed) return this.confirmed(tx, id, p, () => this.registered(tx, aor, update, result, now));
      const write = { aor, list: result.bindings, expectedVersion: set.version };
      return chain(this.d.auth.confirm(p, write), (c) => {
        if (!c.outcome.ok) return this.authRefused(tx, id, c.outcome);
        // Another writer moved the bindings since they were read: the usual compare-and-set rounds, on a fresh snapshot.
        if (c.result === 'conflict') return this.updateBindings(tx, aor, update, 1);
        this.registered(tx, aor, update, result, now);
      });
    });
  }

  /** Confirms the proof alone, then `then()`; a replayed nc is answered as the digest failure it is instead. */
  private confirmed(tx: ServerTransaction, id: UriIdentity, p: Proof, then: () => void): MaybePromise<void> {
    return chain(this.d.auth.confirm(p), (c) => (c.outcome.ok ? then() : this.authRefused(tx, id, c.outcome)));
  }

  private authRefused(tx: ServerTransaction, id: UriIdentity, outcome: DigestRefusal): void {
    this.answer(tx, this.d.auth.refusal(outcome.reason, id.realm, 'registrar', {
      source: tx.request.source!,
      userAgent: tx.request.userAgent,
      tenant: id.tenant?.code,
      ext: id.ext,
    }));
  }

  /**
   * §10.3 steps 6-8 under compare-and-set, then the 200 listing every current binding. A round that lost to another
   * writer (concurrent REGISTERs for one AOR on several nodes) starts again on a fresh snapshot, at most
   * MAX_CAS_ATTEMPTS times.
   */
  private updateBindings(tx: ServerTransaction, aor: string, update: BindingUpdate, attempt: number): MaybePromise<void> {
    if (attempt === MAX_CAS_ATTEMPTS) {
      this.refuse(tx, 'concurrent-update', ['Retry-After: 1']);
      return;
    }
    const now = this.d.clock.now();
    return chain(this.d.bindings.get(aor, now), (current) => {
      const result = this.applyTo(tx, update, current.bindings, now);
      if (result === undefined) return;
      if (!result.changed) return this.registered(tx, aor, update, result, now);
      return chain(this.d.bindings.replace(aor, result.bindings, current.version, now), (stored) =>
        stored ? this.registered(tx, aor, update, result, now) : this.updateBindings(tx, aor, update, attempt + 1),
      );
    });
  }

  /** What one REGISTER asks of its AOR's bindings, read from the request once for every CAS round. */
  private updateOf(tx: ServerTransaction): BindingUpdate {
    const req = tx.request;
    const supported = req.headerValues('supported').map((t) => t.toLowerCase());
    return { contacts: req.contacts(), headerExpires: req.expires, supported };
  }

  /** apply() over one snapshot; a refusal is answered here (undefined). */
  private applyTo(tx: ServerTransaction, u: BindingUpdate, existing: Binding[], now: number): Applied | undefined {
    const result = this.apply(tx.request, tx.flow, u.contacts, u.headerExpires, u.supported.includes('outbound'), existing, now);
    if (!('refused' in result)) return result;
    this.refuse(tx, result.refused, result.headers);
    return undefined;
  }

  /** The bindings are stored: track flow-bound ones and answer 200 listing them. */
  private registered(tx: ServerTransaction, aor: string, u: BindingUpdate, result: Applied, now: number): void {
    this.trackFlows(aor, result.bindings);
    const headers = result.bindings.map((b) => contactLine(b, now));
    // RFC 3327 §5.3: echo Path in the 200 when the UA supports path.
    if (u.supported.includes('path')) for (const p of tx.request.headerLines('path')) headers.push(`Path: ${p}`);
    // RFC 5626 §6: a registrar that applied outbound says so with Require: outbound.
    if (result.outbound) headers.push('Require: outbound');
    headers.push('Supported: path, outbound');
    this.answer(tx, { status: 200, reason: 'OK', headers });
    this.d.logger.debug({ event: 'registrar.update', aor, bindings: result.bindings.length });
  }

  /** Pure §10.3 step 6-8 over one snapshot: the new binding list, or a refusal. */
  private apply(
    req: SipMessage,
    flow: Flow,
    contacts: Contact[],
    headerExpires: number | undefined,
    supportsOutbound: boolean,
    existing: Binding[],
    now: number,
  ): Refused | Applied {
    const cfg = this.d.config;
    const callId = req.callId;
    const cseq = req.cseq.seq;
    if (contacts.length === 0) return { bindings: existing, changed: false, outbound: false };
    const byKey = new Map<string, Binding>();
    for (const b of existing) byKey.set(bindingKey(b), b);
    if (contacts.some((c) => c.isStar)) {
      if (contacts.length !== 1 || headerExpires !== 0) return { refused: 'invalid-wildcard' };
      for (const b of existing) {
        if (b.callId === callId && cseq <= b.cseq) return { refused: 'invalid-cseq' };
      }
      return { bindings: [], changed: existing.length > 0, outbound: false };
    }
    const source = req.source!;
    const path = req.headerValues('path');
    const userAgent = req.userAgent;
    let outbound = false;
    for (const c of contacts) {
      const raw = c.expires ?? headerExpires ?? cfg.defaultExpires;
      if (!Number.isInteger(raw) || raw < 0) return { refused: 'invalid-expires' };
      // §10.3 step 7: too brief -> 423 with Min-Expires; too long -> clamp (the 200 tells the UA).
      if (raw > 0 && raw < cfg.minExpires) return { refused: 'interval-too-brief', headers: [`Min-Expires: ${cfg.minExpires}`] };
      const expires = Math.min(raw, cfg.maxExpires);
      const instanceId = instanceOf(c);
      let regId = regIdOf(c);
      if (Number.isNaN(regId)) return { refused: 'invalid-reg-id' };
      // RFC 5626 §6: reg-id without +sip.instance is ignored.
      if (instanceId === undefined) regId = undefined;
      const isOutbound = regId !== undefined && supportsOutbound;
      if (isOutbound) outbound = true;
      const key = bindingKey({ contact: c.uri, instanceId, regId });
      const old = byKey.get(key);
      // §10.3 step 8: same Call-ID with a CSeq not above the stored one is out of order.
      if (old && old.callId === callId && cseq <= old.cseq) return { refused: 'invalid-cseq' };
      if (expires === 0) {
        byKey.delete(key);
        continue;
      }
      const q = c.params.get('q');
      byKey.set(key, {
        contact: c.uri,
        instanceId,
        regId,
        callId,
        cseq,
        expiresAt: now + expires * 1000,
        registeredAt: old?.registeredAt ?? now,
        q: q !== undefined && q !== '' && Number.isFinite(Number(q)) ? Number(q) : undefined,
        path,
        flowId: source.flowId,
        // A WebSocket contact (…​.invalid host) is reachable only on its connection; outbound flows die with theirs.
        isFlowBound: flow.isReliable && (isOutbound || flow.transport === 'ws' || flow.transport === 'wss'),
        transport: source.transport,
        sourceAddress: source.address,
        sourcePort: source.port,
        userAgent,
        nodeId: this.d.node.id,
        nodeAddress: this.d.node.address,
      });
    }
    let bindings = [...byKey.values()];
    if (bindings.length > cfg.maxContacts) {
      // Keep the newest registrations; the oldest are dropped (a phone hopping NAT ports leaves stale ones behind).
      bindings.sort((a, b) => b.registeredAt - a.registeredAt);
      bindings = bindings.slice(0, cfg.maxContacts);
    }
    return { bindings, changed: true, outbound };
  }

  private trackFlows(aor: string, bindings: Binding[]): void {
    for (const b of bindings) {
      if (!b.isFlowBound || !b.flowId) continue;
      let set = this.flowAors.get(b.flowId);
      if (!set) this.flowAors.set(b.flowId, (set = new Set()));
      set.add(aor);
    }
  }

  /** A connection closed: the bindings that live on it go at once (RFC 5626 §5.2 flow failure). */
  onFlowClosed(flow: Flow): void {
    const aors = this.flowAors.get(flow.id);
    if (!aors) return;
    this.flowAors.delete(flow.id);
    for (const aor of aors) {
      this.removeFlowBindings(aor, flow.id).catch((e: unknown) =>
        this.d.logger.warn({ event: 'registrar.flow_cleanup_failed', aor, err: (e as Error).message }),
      );
    }
  }

  private async removeFlowBindings(aor: string, flowId: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const now = this.d.clock.now();
      const cur = await this.d.bindings.get(aor, now);
      // Flow ids are per node: the same id on another node is another connection.
      const kept = cur.bindings.filter((b) => !(b.isFlowBound && b.flowId === flowId && b.nodeId === this.d.node.id));
      if (kept.length === cur.bindings.length) return;
      if (await this.d.bindings.replace(aor, kept, cur.version, now)) {
        this.d.logger.debug({ event: 'registrar.flow_closed', aor, removed: cur.bindings.length - kept.length });
        return;
      }
    }
  }

  private refuse(tx: ServerTransaction, why: Refusal, headers?: string[]): void {
    const row = REFUSALS[why];
    this.d.logger.debug({ event: 'registrar.refused', reason: why, status: row.status });
    this.answer(tx, headers === undefined ? row : { status: row.status, reason: row.reason, headers });
  }

  /** Sends `a` and counts it in sipedge_register_responses_total{status}. */
  private answer(tx: ServerTransaction, a: SipAnswer): void {
    tx.respond(a.status, a.reason, { headers: a.headers });
    let c = this.responses.get(a.status);
    if (!c) this.responses.set(a.status, (c = this.d.metrics.registerResponses.labels(String(a.status))));
    c.inc();
  }

  private fail(tx: ServerTransaction, e: unknown): void {
    if (!tx.isCompleted) this.answer(tx, errorResponse(e, this.d, 'registrar').answer);
  }
}

/** Whether two identities name the same extension of the same tenant in the same realm. */
function sameIdentity(a: UriIdentity, b: UriIdentity): boolean {
  return a.ext === b.ext && a.realm === b.realm && a.tenant?.code === b.tenant?.code && a.tenant?.domain === b.tenant?.domain;
}
