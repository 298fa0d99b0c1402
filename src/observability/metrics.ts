// prom-client registry and every sipedge metric; label values come from closed sets only.
// Counters are FastCounters (plain adds on the hot path, copied into prom-client at scrape); bind label sets once.
import { Registry, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';
import { FastCounter } from './fast-counter.ts';
import { FastHistogram } from './fast-histogram.ts';

/** Latency buckets in seconds: sub-millisecond local answers (REGISTER, OPTIONS) up to a call rung for a minute. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** HTTP latency buckets in seconds: argon2 logins take ~50-100 ms, an upload's conversion seconds. */
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new Registry();

  readonly sipMessages = new FastCounter({
    name: 'sipedge_sip_messages_total',
    help: 'SIP messages received, by transport and kind (request/response)',
    labelNames: ['transport', 'kind'] as const,
    registers: [this.registry],
  });
  readonly sipRequests = new FastCounter({
    name: 'sipedge_sip_requests_total',
    help: 'SIP requests received, by method (closed set; others are "other")',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });
  readonly parseErrors = new FastCounter({
    name: 'sipedge_sip_parse_errors_total',
    help: 'Malformed SIP messages, by outcome: answered (400 sent) or dropped (no response addressable)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly drops = new FastCounter({
    name: 'sipedge_sip_dropped_total',
    help: 'Messages dropped without a response, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly retransmissions = new FastCounter({
    name: 'sipedge_sip_retransmissions_absorbed_total',
    help: 'Retransmitted requests absorbed by a server transaction',
    registers: [this.registry],
  });
  readonly registerResponses = new FastCounter({
    name: 'sipedge_register_responses_total',
    help: 'Responses sent to REGISTER, by status code',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly authFailures = new FastCounter({
    name: 'sipedge_auth_failures_total',
    help: 'Failed or refused authentications, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly authSuccesses = new FastCounter({
    name: 'sipedge_auth_successes_total',
    help: 'Successful digest authentications, by algorithm and whether the grace (previous) credential was used',
    labelNames: ['algorithm', 'credential'] as const,
    registers: [this.registry],
  });
  readonly lockouts = new FastCounter({
    name: 'sipedge_auth_lockouts_total',
    help: 'Extensions locked after repeated failures',
    registers: [this.registry],
  });
  readonly bans = new FastCounter({
    name: 'sipedge_auth_bans_total',
    help: 'Source addresses banned for failing on many extensions',
    registers: [this.registry],
  });
  readonly floodDrops = new FastCounter({
    name: 'sipedge_flood_dropped_total',
    help: 'Messages dropped before parsing by the per-source flood guard, by transport and reason (over-budget, banned)',
    labelNames: ['transport', 'reason'] as const,
    registers: [this.registry],
  });
  readonly floodBans = new FastCounter({
    name: 'sipedge_flood_bans_total',
    help: 'Sources banned by the flood guard, by reason (flood, scanner, auth)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly floodSources = new Gauge({
    name: 'sipedge_flood_sources',
    help: 'Entries the flood guard holds (source buckets, bans, proven sources); bounded by flood.maxSources per table',
    registers: [this.registry],
  });
  readonly registrationsActive = new Gauge({
    name: 'sipedge_registrations_active',
    help: 'Unexpired registration bindings',
    registers: [this.registry],
  });
  readonly udpSendDrops = new FastCounter({
    name: 'sipedge_udp_send_dropped_total',
    help: 'Outgoing SIP datagrams dropped, by reason: no-room (socket buffer full) and refused (by the kernel) on the native UDP I/O; bad-entry',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  // Named _open, not plain sipedge_connections: under OpenMetrics the counter sipedge_connections_total is the family
  // sipedge_connections, which a gauge of that name would clash with (test/ops/ops-kit.test.ts checks every family).
  readonly connections = new Gauge({
    name: 'sipedge_connections_open',
    help: 'Open connections by transport',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });
  readonly connectionsTotal = new FastCounter({
    name: 'sipedge_connections_total',
    help: 'Connections accepted by transport',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });
  readonly sipResponseSeconds = new FastHistogram({
    name: 'sipedge_sip_response_seconds',
    help: 'Server transactions: time from the request to its final response, by method (closed set) and status class',
    labelNames: ['method', 'status_class'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly proxyInviteProvisionalSeconds = new FastHistogram({
    name: 'sipedge_proxy_invite_provisional_seconds',
    help: 'Proxied INVITEs: time from the INVITE to the first provisional response other than 100 relayed to the caller (post-dial delay)',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly proxyInviteFinalSeconds = new FastHistogram({
    name: 'sipedge_proxy_invite_final_seconds',
    help: 'Proxied INVITEs: time from the INVITE to the final response sent to the caller, by status class',
    labelNames: ['status_class'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly httpRequestSeconds = new FastHistogram({
    name: 'sipedge_http_request_duration_seconds',
    help: 'HTTP requests (API, portal, metrics): time to the response, by method, route template and status class',
    labelNames: ['method', 'route', 'status_class'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });
  readonly transactions = new Gauge({
    name: 'sipedge_transactions',
    help: 'Live server transactions',
    registers: [this.registry],
  });
  readonly keptResponses = new Gauge({
    name: 'sipedge_transaction_kept_responses',
    help: 'Responses server transactions keep to answer retransmissions (RFC 3261 17.2)',
    registers: [this.registry],
  });
  readonly keptResponseBytes = new Gauge({
    name: 'sipedge_transaction_kept_response_bytes',
    help: 'Bytes of the responses server transactions keep to answer retransmissions',
    registers: [this.registry],
  });
  readonly clientTransactions = new Gauge({
    name: 'sipedge_client_transactions',
    help: 'Live client transactions (requests the edge sent and may retransmit)',
    registers: [this.registry],
  });
  readonly nodesLive = new Gauge({
    name: 'sipedge_nodes_live',
    help: 'Nodes of the deployment this node saw alive at its last heartbeat (itself included)',
    registers: [this.registry],
  });
  readonly nodesDead = new FastCounter({
    name: 'sipedge_nodes_dead_total',
    help: 'Dead nodes this node cleaned up after (their connection bindings removed)',
    registers: [this.registry],
  });
  readonly upstreamUp = new Gauge({
    name: 'sipedge_upstream_up',
    help: 'Upstream health from OPTIONS probes: 1 up, 0 down or not yet proven; label = configured uri (closed set)',
    labelNames: ['upstream'] as const,
    registers: [this.registry],
  });
  readonly upstreamProbeSeconds = new Histogram({
    name: 'sipedge_upstream_probe_seconds',
    help: 'Round-trip time of answered OPTIONS probes, by upstream (configured uri)',
    labelNames: ['upstream'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly mohStreams = new Gauge({
    name: 'sipedge_moh_streams',
    help: 'Hold-music RTP streams playing now',
    registers: [this.registry],
  });
  readonly mohPackets = new FastCounter({
    name: 'sipedge_moh_rtp_packets_total',
    help: 'Hold-music RTP packets sent',
    registers: [this.registry],
  });
  readonly mohSkippedFrames = new FastCounter({
    name: 'sipedge_moh_skipped_frames_total',
    help: 'Hold-music frames skipped because a tick was later than the catch-up bound (media.maxBurstFrames)',
    registers: [this.registry],
  });
  readonly mohLateTicks = new FastCounter({
    name: 'sipedge_moh_late_ticks_total',
    help: 'RTP scheduler ticks that ran a frame (20 ms) or more after their time',
    registers: [this.registry],
  });
  readonly mohMaxLag = new Gauge({
    name: 'sipedge_moh_tick_lag_max_seconds',
    help: 'Largest RTP scheduler lag (tick run time minus its due time) in the last 10 s window',
    registers: [this.registry],
  });
  readonly mohActivations = new FastCounter({
    name: 'sipedge_moh_activations_total',
    help: 'Hold-music uploads by result: activated, or the refusal reason (closed set)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly mohConversions = new Gauge({
    name: 'sipedge_moh_conversions',
    help: 'Hold-music uploads converting now (state running) and waiting for a conversion slot (state queued)',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly mohCalls = new FastCounter({
    name: 'sipedge_moh_calls_total',
    help: 'Hold-music INVITEs by outcome (answered, no-codec, unknown-tenant, no-port, ...)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly proxyRequests = new FastCounter({
    name: 'sipedge_proxy_requests_total',
    help: 'Requests the proxy forwarded, by route: to-upstream, from-upstream, local (user to user), in-dialog, from-node (relayed by another node)',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly proxyRejected = new FastCounter({
    name: 'sipedge_proxy_rejected_total',
    help: 'Requests the proxy refused itself, by reason (merged, loop, too-many-hops, no-route, no-upstream, unavailable, forbidden)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly upstreamMoves = new FastCounter({
    name: 'sipedge_upstream_moves_total',
    help: 'Extensions moved from one upstream to another (down, failover or move-back)',
    registers: [this.registry],
  });
  readonly proxyFailovers = new FastCounter({
    name: 'sipedge_proxy_failovers_total',
    help: 'Requests re-sent to another upstream after a timeout or 503',
    registers: [this.registry],
  });

  readonly rtpengineUp = new Gauge({
    name: 'sipedge_rtpengine_up',
    help: 'rtpengine health from NG pings and commands: 1 up, 0 down or not yet proven; label = configured address (closed set)',
    labelNames: ['rtpengine'] as const,
    registers: [this.registry],
  });
  readonly rtpengineErrors = new FastCounter({
    name: 'sipedge_rtpengine_errors_total',
    help: 'NG commands without a usable reply, by rtpengine (configured address), command and reason (timeout, refused, error, bad-reply, closed)',
    labelNames: ['rtpengine', 'command', 'reason'] as const,
    registers: [this.registry],
  });
  readonly rtpengineCommandSeconds = new FastHistogram({
    name: 'sipedge_rtpengine_command_seconds',
    help: 'Round-trip time of answered NG commands, by command',
    labelNames: ['command'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  /** Set when /metrics is scraped (app.ts beforeScrape), not per call. */
  readonly anchoredCalls = new Gauge({
    name: 'sipedge_anchored_calls',
    help: 'Calls whose media goes through rtpengine now',
    registers: [this.registry],
  });
  readonly anchorDecisions = new FastCounter({
    name: 'sipedge_anchor_decisions_total',
    help: 'Calls by media anchoring outcome: anchored, direct (not needed), refused (needed, no rtpengine), unanchored (optional, rtpengine failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly tlsCertificateExpiry = new Gauge({
    name: 'sipedge_tls_certificate_expiry_seconds',
    help: "Seconds until the TLS listeners' certificate ends (negative once expired), by source: configured or self-signed",
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly tlsReloads = new FastCounter({
    name: 'sipedge_tls_reloads_total',
    help: 'Changed certificate files read again, by result: ok (now served) or failed (the previous one kept; see log)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly tlsHandshakeFailures = new FastCounter({
    name: 'sipedge_tls_handshake_failures_total',
    help: 'TLS handshakes that failed or timed out on a SIP listener, by transport (tls, wss)',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });
  readonly storeUp = new Gauge({
    name: 'sipedge_store_up',
    help: 'Whether the store serves requests: 1, or 0 during an outage (Redis unreachable, or restarted empty)',
    registers: [this.registry],
  });
  readonly storeOutages = new FastCounter({
    name: 'sipedge_store_outages_total',
    help: 'Store outages by kind: unreachable, empty (Redis came back without its data), replaced (with another store); one outage may count as unreachable, then empty',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly storeOutageSeconds = new FastCounter({
    name: 'sipedge_store_outage_seconds_total',
    help: 'Seconds spent in store outages that have ended',
    registers: [this.registry],
  });
  readonly storeRefused = new FastCounter({
    name: 'sipedge_store_refused_total',
    help: 'Requests answered 503 because the store could not be reached, by service (registrar, proxy, dispatch, gateway)',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });
  readonly storeCacheAnswers = new FastCounter({
    name: 'sipedge_store_outage_cache_answers_total',
    help: 'Reads answered from what was read before, while the store could not be reached (redis.outageCacheSeconds)',
    registers: [this.registry],
  });
  constructor(opts: { defaultMetrics?: boolean } = {}) {
    // The embedded store is always up; the Redis store's health monitor sets 0 during an outage and 1 after it.
    this.storeUp.set(1);
    if (opts.defaultMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix: 'sipedge_' });
      // prom-client names three gauges *_total, which Prometheus reserves for counters (promtool check metrics fails
      // on them); each is the sum over its per-type gauge beside it (sipedge_nodejs_active_handles{type}, ...).
      for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) this.registry.removeSingleMetric(`sipedge_nodejs_${name}`);
    }
  }
}

/** The auth failure reasons used as metric labels and log fields (closed set). */
const AUTH_FAILURE_REASONS = [
  'bad-password',
  'stale-nonce',
  'replay',
  'stale-credential',
  'locked',
  'banned',
  'unknown-user',
  'scanner',
  'malformed',
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];
