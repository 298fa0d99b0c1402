// The one config schema: every key with its default and unit. Loading and env overrides are in load.ts.
// Services receive their frozen slice; nothing reads process.env after start.
import { isIP } from 'node:net';
import { z } from 'zod';

/** "host:port" (IPv4, [IPv6] or name), or "off" to disable a listener. Port 0 = any free port. */
const listenAddress = z.string().superRefine((s, ctx) => {
  if (s === 'off' || parseHostPort(s) !== undefined) return;
  const port = /:(\d+)$/.exec(s);
  ctx.addIssue({
    code: 'custom',
    message: port !== null && Number(port[1]) > 65535 ? `port ${port[1]} is out of range (0-65535)` : 'is not host:port (e.g. 0.0.0.0:5060) or "off"',
  });
});

/** The listeners on TCP (SIP over TCP, TLS, WS, WSS; HTTP, HTTPS): two of them cannot share a port on one address. */
const TCP_LISTENERS = [
  ['sip', 'tcp'],
  ['sip', 'tls'],
  ['sip', 'ws'],
  ['sip', 'wss'],
  ['http', 'listen'],
  ['http', 'https'],
  ['cluster', 'listen'],
] as const;
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::']);

export function parseHostPort(s: string): { host: string; port: number } | undefined {
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0 || s[end + 1] !== ':') return undefined;
    host = s.slice(1, end);
    portText = s.slice(end + 2);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon <= 0) return undefined;
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':')) return undefined;
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535 || host.length === 0) return undefined;
  return { host, port };
}

/** A 32-byte key from 64 hex characters or base64/base64url; undefined when it is not one. */
export function decodeKey(s: string): Buffer | undefined {
  const t = s.trim();
  const b = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : /^[A-Za-z0-9+/_-]{43}=?$/.test(t) ? Buffer.from(t, 'base64url') : undefined;
  return b !== undefined && b.length === 32 ? b : undefined;
}

/** An IPv4/IPv6 address, optionally with a /prefix (a CIDR), as gateway.trustProxy takes them. */
function isAddressOrCidr(s: string): boolean {
  const slash = s.indexOf('/');
  const address = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return false;
  if (slash < 0) return true;
  const prefix = s.slice(slash + 1);
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

const seconds = (def: number) => z.number().int().min(0).default(def);

/** auth.challengePolicy rules: a User-Agent substring and the algorithms offered to it, strongest first. */
const challengeRules = () =>
  z.array(
    z
      .object({
        userAgent: z.string().min(1),
        algorithms: z.array(z.enum(['SHA-256', 'MD5'])).min(1),
      })
      .strict(),
  );

/** Requests per second and burst per source address on one transport (config flood.<transport>). */
const floodBudget = () =>
  z
    .object({
      /** Messages per second a source may send. */
      rate: z.number().positive().default(50),
      /** Messages a source may send at once (the bucket's size). */
      burst: z.number().int().min(1).default(100),
    })
    .strict()
    .prefault({});

/**
 * The parts of an upstream `sip:`/`sips:` URI the edge needs: host, port and the transport. A `sips:` URI means TLS
 * (RFC 3261 §19.1.2); the default port is 5061 for TLS, else 5060 (RFC 3263 §4.2). Config-time only (a regex is fine
 * here; the SIP path parses with sip/uri.ts). config/ imports nothing of ours.
 */
export function parseUpstreamUri(uri: string): { host: string; port: number; transport: string | undefined } | undefined {
  const m = /^(sips?):(?:[^@;?\s]+@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?((?:;[^;=\s]+(?:=[^;\s]*)?)*)$/.exec(uri);
  if (m === null) return undefined;
  const param = /;transport=([^;]*)/i.exec(m[4] ?? '');
  const named = param === null ? undefined : param[1]!.toLowerCase();
  // sips: with ;transport=tcp is TLS over TCP (RFC 5630 §3.1.3); ;transport=tls is the older spelling of the same.
  const transport = m[1] === 'sips' ? (named === undefined || named === 'tcp' || named === 'tls' ? 'tls' : named) : named;
  const port = m[3] === undefined ? (transport === 'tls' ? 5061 : 5060) : Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  const host = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
  return { host, port, transport };
}

/**
 * One rtpengine NG control address, `udp:host:port` (host an IP literal, [IPv6] or a name resolved at start), as
 * rtpengine's --listen-ng takes it. Config-time only. config/ imports nothing of ours.
 */
export function parseNgAddress(s: string): { host: string; port: number } | undefined {
  if (!s.startsWith('udp:')) return undefined;
  const hp = parseHostPort(s.slice(4));
  return hp === undefined || hp.port === 0 ? undefined : hp;
}

/** A media.rtpengine entry written as text, `udp:host:port[;weight=N]`, as an object for the schema below. */
function rtpengineEntry(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const [address, ...params] = v.trim().split(';');
  const entry: Record<string, unknown> = { address };
  for (const p of params) {
    const m = /^weight=(\d{1,5})$/i.exec(p.trim());
    if (m !== null) entry.weight = Number(m[1]);
    else entry.parameter = `;${p}`;
  }
  return entry;
}

/** A media.rtpengine entry: `udp:host:port`, optionally `;weight=N`, or `{ address, weight }`. */
const rtpengineSchema = z.preprocess(
  rtpengineEntry,
  z
    .object({
      address: z.string().superRefine((a, ctx) => {
        if (parseNgAddress(a) === undefined) ctx.addIssue({ code: 'custom', message: `"${a}" is not an NG address udp:host:port (e.g. udp:127.0.0.1:22222)` });
      }),
      weight: z.number().int().min(0).max(65535).default(1),
      /** Only there when the text named a parameter other than weight: always refused. */
      parameter: z
        .string()
        .optional()
        .superRefine((p, ctx) => {
          if (p !== undefined) ctx.addIssue({ code: 'custom', message: `"${p}" is not a parameter of an rtpengine address (only ;weight=N)` });
        }),
    })
    .strict()
    .transform((r) => ({ address: r.address, weight: r.weight })),
);

/** Which calls go through rtpengine (config media.anchoring; README "WebRTC media"). */
const ANCHORING_MODES = ['bridge', 'always', 'off'] as const;

/** How the proxy admits requests from users (config proxy.userAuth). */
const USER_AUTH_POLICIES = ['challenge', 'registered'] as const;
export type UserAuthPolicy = (typeof USER_AUTH_POLICIES)[number];

/** Transports an upstream can be probed and reached on. */
const UPSTREAM_TRANSPORTS = ['udp', 'tcp', 'tls'] as const;

const upstreamSchema = z
  .object({
    /** The upstream PBX, e.g. sip:pbx1.example.com:5060 (port default 5060). Also its `upstream` metric label. */
    uri: z
      .string()
      .refine((s) => parseUpstreamUri(s) !== undefined, { message: 'is not a sip: URI with a host (e.g. sip:pbx1.example.com:5060)' })
      .refine((s) => {
        const t = parseUpstreamUri(s)?.transport;
        return t === undefined || (UPSTREAM_TRANSPORTS as readonly string[]).includes(t);
      }, { message: 'names a transport other than udp, tcp or tls' }),
    /** Lower is preferred (as in DNS SRV); default 1. */
    priority: z.number().int().min(0).max(65535).default(1),
    /** Relative share among healthy upstreams of the same priority (as in DNS SRV); default 1. */
    weight: z.number().int().min(0).max(65535).default(1),
    /** Default: tls for a sips: uri, else the uri's ;transport= parameter, else udp. */
    transport: z.enum(UPSTREAM_TRANSPORTS).optional(),
  })
  .strict()
  .superRefine((u, ctx) => {
    const fromUri = parseUpstreamUri(u.uri)?.transport;
    if (u.transport !== undefined && fromUri !== undefined && fromUri !== u.transport) {
      ctx.addIssue({ code: 'custom', path: ['transport'], message: `contradicts the uri's ;transport=${fromUri}` });
    }
  })
  .transform((u) => ({
    uri: u.uri,
    priority: u.priority,
    weight: u.weight,
    transport: u.transport ?? (parseUpstreamUri(u.uri)?.transport as (typeof UPSTREAM_TRANSPORTS)[number] | undefined) ?? 'udp',
  }));

/** One configured rtpengine, as the media relay receives it. */
export type RtpengineConfig = z.infer<typeof rtpengineSchema>;

/** One configured upstream PBX, as the proxy receives it. */
export type UpstreamConfig = z.infer<typeof upstreamSchema>;

export const configSchema = z
  .object({
    /** Directory for the embedded store's journal, keys and outbox. */
    dataDir: z.string().min(1).default('./data'),
    /** "memory" (embedded, journal on disk) or "redis". */
    store: z.enum(['memory', 'redis']).default('memory'),
    redis: z
      .object({
        url: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').default('redis://127.0.0.1:6379'),
        keyPrefix: z.string().default('sipedge:'),
        /** How long one Redis command may take before it fails and the request is answered 503; ms. */
        commandTimeoutMs: z.number().int().min(50).max(60_000).default(1000),
        /**
         * While Redis cannot be reached, answers read before the outage (tenant by domain, bindings, bans) are still
         * used for this long after they were read (a binding never past its own expiry); seconds, 0 = not at all.
         */
        outageCacheSeconds: seconds(300),
        /**
         * Redis Sentinel addresses ("host:port"); when given, the edge asks them for the primary of `name` (redis.url
         * then only gives the password, database and TLS) and follows its failovers.
         */
        sentinels: z.array(listenAddress.refine((s) => s !== 'off', { message: 'is not host:port' })).default([]),
        /** The primary's name as the sentinels know it (sentinel monitor <name> ...). */
        name: z.string().min(1).default('mymaster'),
        /**
         * Replicas that must have a durable write (accounts, credentials, logins, hold music) before it is reported
         * done (WAIT); 0 = do not wait. With Sentinel and one replica, 1: a failover then loses nothing reported done.
         */
        waitReplicas: z.number().int().min(0).max(16).default(0),
      })
      .strict()
      .prefault({}),
    sip: z
      .object({
        udp: listenAddress.default('0.0.0.0:5060'),
        tcp: listenAddress.default('0.0.0.0:5060'),
        ws: listenAddress.default('0.0.0.0:5066'),
        /** SIP over TLS (RFC 3261 §26; certificate from the tls section). */
        tls: listenAddress.default('0.0.0.0:5061'),
        /** SIP over secure WebSocket (RFC 7118 wss; certificate from the tls section). */
        wss: listenAddress.default('0.0.0.0:7443'),
        /** Host (and port) the edge puts in Via/Record-Route/Path; default: the listen address, or 127.0.0.1 when it is 0.0.0.0. */
        advertisedHost: z.string().default(''),
        /** Largest SIP message accepted, in bytes (UDP datagram or stream frame). */
        maxMessageBytes: z.number().int().min(1024).max(1_048_576).default(65_535),
        /** Close a TCP/WS connection with no traffic for this long; seconds. */
        idleTimeoutSeconds: seconds(600),
        /** Value of the Server/User-Agent header. */
        serverName: z.string().default('sipedge'),
        /**
         * SO_REUSEPORT on the stream listeners (tcp, tls, ws, wss): several nodes on one host listen on the same ports
         * and the kernel spreads the connections over them (README "Many nodes", several nodes on one host). Needs
         * store "redis" and cluster.listen. UDP is never shared (a response to a node's own request would reach
         * whichever node the kernel picks for the peer's address).
         */
        reusePort: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    http: z
      .object({
        listen: listenAddress.default('0.0.0.0:8080'),
        /** HTTPS for the gateway and portal (certificate from the tls section); plain HTTP then redirects browsers. */
        https: listenAddress.default('0.0.0.0:8443'),
        /** /metrics on a listener of its own (host:port, e.g. a private address), or "off"; empty: on http.listen. */
        metricsListen: z.union([z.literal(''), listenAddress]).default(''),
        /** When set, /metrics wants `Authorization: Bearer <token>` (Prometheus bearer_token); empty: open. */
        metricsToken: z.string().default(''),
      })
      .strict()
      .prefault({}),
    /** Certificates of the TLS listeners (sip.tls, sip.wss, http.https) and trust in TLS upstreams (README "TLS"). */
    tls: z
      .object({
        /** PEM file: the edge's certificate, then its chain (e.g. certbot's fullchain.pem). Empty: a self-signed one in dataDir/tls/. */
        certFile: z.string().default(''),
        /** PEM file: the certificate's private key (unencrypted; PKCS#8, PKCS#1 or SEC1), e.g. certbot's privkey.pem. */
        keyFile: z.string().default(''),
        /** PEM file with CA certificates trusted for TLS upstreams besides the public roots (a private CA). */
        upstreamCaFile: z.string().default(''),
        /** Check a TLS upstream's certificate (chain and host name); false accepts any (lab use only). */
        verifyUpstreams: z.boolean().default(true),
      })
      .strict()
      .refine((t) => (t.certFile === '') === (t.keyFile === ''), {
        path: ['keyFile'],
        message: 'tls.certFile and tls.keyFile go together: set both or neither',
      })
      .prefault({}),
    registrar: z
      .object({
        /** Shorter registrations get 423 Interval Too Brief; seconds. */
        minExpires: z.number().int().min(1).default(60),
        /** Longer registrations are clamped to this; seconds. */
        maxExpires: z.number().int().min(1).default(3600),
        /** Used when the REGISTER names no expiry; seconds. */
        defaultExpires: z.number().int().min(1).default(3600),
        /** Most contacts kept per address-of-record. */
        maxContacts: z.number().int().min(1).default(10),
      })
      .strict()
      .refine((r) => r.minExpires <= r.maxExpires, { path: ['minExpires'], message: 'must not be above registrar.maxExpires' })
      .prefault({}),
    auth: z
      .object({
        /** HMAC key for nonces (any node can verify); empty: generated once and kept in the store. */
        nonceSecret: z.string().default(''),
        /** A nonce older than this gets 401 stale=true; seconds. */
        nonceTtlSeconds: z.number().int().min(10).default(300),
        /** Digest algorithms offered, strongest first. */
        algorithms: z.array(z.enum(['SHA-256', 'MD5'])).min(1).default(['SHA-256', 'MD5']),
        /**
         * Adds opaque="algorithm=MD5" to a non-MD5 challenge when MD5 is offered too, so that clients that take the
         * first "algorithm=" in the challenge text (SIPp 3.6) answer the MD5 challenge; conformant clients echo opaque.
         */
        md5OpaqueHint: z.boolean().default(true),
        /** Realm and domain for usernames of the form extension-tenant. Empty: disabled. */
        sharedDomain: z.string().default(''),
        /** Length of generated VoIP passwords (characters, >= 20). */
        passwordLength: z.number().int().min(20).max(128).default(24),
        lockout: z
          .object({
            /** Failed digests that lock an extension. */
            maxFailures: z.number().int().min(1).default(5),
            /** Window in which failures are counted; seconds. */
            windowSeconds: seconds(900),
            /** Lock length; seconds. */
            lockSeconds: seconds(900),
            /** A source that proved the password stays trusted this long; seconds. */
            trustSeconds: seconds(86_400),
          })
          .strict()
          .prefault({}),
        ban: z
          .object({
            /** Distinct extensions a source may fail on within the window before it is banned. */
            maxExtensions: z.number().int().min(1).default(10),
            windowSeconds: seconds(600),
            banSeconds: seconds(3600),
          })
          .strict()
          .prefault({}),
        /**
         * Which algorithms to challenge a client with, by User-Agent substring (case-insensitive; the first rule that
         * matches wins): for clients that refuse a whole challenge set naming an algorithm they do not know (baresip
         * 1.0 with SHA-256). A device that once answered SHA-256 is never offered less (downgrade protection).
         */
        challengePolicy: challengeRules().default([{ userAgent: 'baresip', algorithms: ['MD5'] }]),
        /** Per tenant code: rules tried before challengePolicy's. */
        tenantChallengePolicy: z.record(z.string(), challengeRules()).default({}),
        /** User-Agent substrings (case-insensitive) dropped silently. */
        scannerUserAgents: z
          .array(z.string().min(1))
          .default(['friendly-scanner', 'sipvicious', 'sipcli', 'VaxSIPUserAgent', 'pplsip']),
      })
      .strict()
      .prefault({}),
    /**
     * Per-source flood control before parsing (transport/flood-guard.ts): a token bucket per source address and
     * transport; sources that stay over it are banned for a while. Proven sources and upstreams get provenFactor x.
     */
    flood: z
      .object({
        enabled: z.boolean().default(true),
        udp: floodBudget(),
        tcp: floodBudget(),
        tls: floodBudget(),
        ws: floodBudget(),
        wss: floodBudget(),
        /** Budget multiplier for sources that proved a password (for auth.lockout.trustSeconds) and upstreams. */
        provenFactor: z.number().int().min(1).default(20),
        /** Over-budget drops within banWindowSeconds that ban a source. */
        banDrops: z.number().int().min(1).default(200),
        banWindowSeconds: z.number().int().min(1).default(10),
        /** Ban length (flood, scanner User-Agent); seconds; 0 = never ban, only drop. */
        banSeconds: seconds(600),
        /** Entries per table (sources per transport, bans, proven sources); the oldest is forgotten beyond. */
        maxSources: z.number().int().min(16).default(65_536),
      })
      .strict()
      .prefault({}),
    /** Upstream PBXs the proxy forwards to; env SIPEDGE_UPSTREAMS (see load.ts). Default: none. */
    upstreams: z
      .array(upstreamSchema)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((u, i) => {
          if (seen.has(u.uri)) ctx.addIssue({ code: 'custom', path: [i, 'uri'], message: 'is listed twice (each uri is one upstream and one metric label)' });
          seen.add(u.uri);
        });
      }),
    proxy: z
      .object({
        /** OPTIONS health probes of every upstream. */
        probe: z
          .object({
            /** Time between probe rounds; seconds. */
            intervalSeconds: z.number().min(1).default(10),
            /** A probe without a final response within this counts as a failure; seconds (< intervalSeconds, <= 32). */
            timeoutSeconds: z.number().positive().max(32).default(2),
            /** Consecutive failed probes that mark an up upstream down. */
            failuresToDown: z.number().int().min(1).default(3),
            /** Consecutive answered probes that mark a down upstream up. */
            successesToUp: z.number().int().min(1).default(2),
          })
          .strict()
          .refine((p) => p.timeoutSeconds < p.intervalSeconds, {
            path: ['timeoutSeconds'],
            message: 'must be less than proxy.probe.intervalSeconds',
          })
          .prefault({}),
        /**
         * How requests from users (INVITE, MESSAGE, SUBSCRIBE, ... out of dialog) are admitted: "challenge" = 407 digest
         * (the default), "registered" = accepted without digest when they come from the source (flow) of one of the
         * From user's registered bindings.
         */
        userAuth: z.enum(USER_AUTH_POLICIES).default('challenge'),
        /** Per-tenant override of userAuth, by tenant code, e.g. { "acme": "registered" }. */
        tenantUserAuth: z.record(z.string(), z.enum(USER_AUTH_POLICIES)).default({}),
        /** An upstream that sends no response at all (not even 100) within this fails over to the next; seconds. */
        failoverTimeoutSeconds: z.number().positive().max(32).default(4),
        /** RFC 3261 §16.6 step 11 Timer C: an INVITE branch with no final response this long is cancelled; seconds (> 180). */
        timerCSeconds: z.number().int().min(181).default(185),
        /**
         * Move an extension back to a more preferred upstream once that one has been up this long; seconds.
         * 0 = never (an extension stays where it is until its upstream goes down).
         */
        moveBackAfterSeconds: seconds(0),
      })
      .strict()
      .prefault({}),
    gateway: z
      .object({
        /** AES-256-GCM key for TOTP secrets and provisioning passwords: 32 bytes as base64/base64url/hex; empty: generated once and kept in the store. */
        encryptionKey: z
          .string()
          .default('')
          .refine((s) => s === '' || decodeKey(s) !== undefined, { message: 'must be 32 bytes as 64 hex characters or base64 (44/43 characters), or empty' }),
        /** Base URL put in reset links and provisioning links, e.g. https://portal.example.com. */
        publicUrl: z.string().regex(/^https?:\/\/[^\s]+$/, 'must start with http:// or https://').default('http://localhost:8080'),
        /**
         * Addresses or CIDRs of the reverse proxies whose X-Forwarded-For/-Proto are believed (client IP for rate
         * limits, Secure cookies behind TLS offload); empty: none. A list, never "everyone": anybody can send the header.
         */
        trustProxy: z
          .array(z.string().refine(isAddressOrCidr, { message: 'is not an IP address or CIDR (e.g. 10.0.0.5 or 10.0.0.0/8)' }), {
            error: 'must be a list of proxy addresses or CIDRs, e.g. ["10.0.0.5", "192.168.0.0/16"] (true would trust anybody)',
          })
          .default([]),
        /** Idle lifetime of a session; each authenticated request renews it; seconds. */
        sessionSeconds: z.number().int().min(60).default(14_400),
        /** How long the half-logged-in state (password proven, TOTP code due) lasts; seconds. */
        pendingSeconds: z.number().int().min(10).default(300),
        /** Validity of a password-reset link; seconds. */
        resetTokenSeconds: z.number().int().min(60).default(3600),
        /** Validity of a provisioning token; seconds. */
        provisioningTokenSeconds: z.number().int().min(60).default(900),
        loginLimit: z
          .object({
            /** Failed logins for one account (or unknown identifier) that block it. */
            maxFailures: z.number().int().min(1).default(5),
            /** Window in which they are counted; seconds. */
            windowSeconds: seconds(900),
            /** How long the identifier is refused (429); seconds. */
            lockSeconds: seconds(900),
            /** Failed logins from one client IP (any identifier) that block the IP. */
            ipMaxFailures: z.number().int().min(1).default(50),
            ipWindowSeconds: seconds(900),
            ipLockSeconds: seconds(900),
          })
          .strict()
          .prefault({}),
        /** Password policy preset for tenants not listed in passwordPolicyTenants: basic (>= 8) or strict (sipcall rules). */
        passwordPolicy: z.enum(['basic', 'strict']).default('basic'),
        /** Per-tenant preset, e.g. { "acme": "strict" }. */
        passwordPolicyTenants: z.record(z.string(), z.enum(['basic', 'strict'])).default({}),
        /** argon2id cost of login password hashes (OWASP minimum profile by default). */
        argon2: z
          .object({
            /** KiB. */
            memoryCost: z.number().int().min(8).max(4_194_304).default(19_456),
            timeCost: z.number().int().min(1).max(100).default(2),
            parallelism: z.number().int().min(1).max(16).default(1),
          })
          .strict()
          .prefault({}),
        totp: z
          .object({
            /** Issuer shown by authenticator apps. */
            issuer: z.string().min(1).default('sipedge'),
            /** Also accept the code of the previous step(s) within this many seconds (clock drift, typing time). */
            toleranceSeconds: z.number().int().min(0).max(300).default(30),
          })
          .strict()
          .prefault({}),
        mail: z
          .object({
            /** SMTP URL for nodemailer (smtp://user:pass@host:587, smtps://...); empty: mails go to <dataDir>/outbox/. */
            smtpUrl: z.string().default(''),
            /** From address of gateway mails. */
            from: z.string().min(3).default('sipedge <no-reply@localhost>'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** Hold and queue music: upload limits, the pipeline's levels, SIP names, RTP (DESIGN.md §8, README "Hold music"). */
    media: z
      .object({
        /** Largest hold-music upload; bytes (1.5 MB). */
        holdMaxBytes: z.number().int().min(1024).default(1_500_000),
        /** Largest queue-music upload; bytes (3 MB). */
        queueMaxBytes: z.number().int().min(1024).default(3_000_000),
        /** Longest accepted audio; seconds (15 min). */
        maxDurationSeconds: z.number().int().min(1).max(7200).default(900),
        /** Loudness target of the non-silent parts; dBFS. */
        loudnessDbfs: z.number().min(-40).max(-6).default(-18),
        /** No sample passes this level after normalisation; dBFS. */
        peakDbfs: z.number().min(-20).max(0).default(-1),
        /** User part of the hold-music URI (sip:<holdUser>@<tenant domain>). */
        holdUser: z.string().min(1).regex(/^[A-Za-z0-9._~+-]+$/, 'must be a plain SIP user part').default('moh'),
        /** User part of the queue-music URI. */
        queueUser: z.string().min(1).regex(/^[A-Za-z0-9._~+-]+$/, 'must be a plain SIP user part').default('queue'),
        /** Address RTP sockets bind to and the SDP announces; empty: the address the INVITE arrived on. */
        rtpAddress: z.string().default(''),
        /** Lowest RTP port (even ports are used). */
        rtpPortMin: z.number().int().min(1024).max(65534).default(20000),
        /** Highest RTP port. */
        rtpPortMax: z.number().int().min(1024).max(65535).default(29999),
        /** A call whose peer should send RTP and sent nothing (or whose address is unreachable) this long ends; seconds. */
        rtpTimeoutSeconds: z.number().int().min(5).default(60),
        /** Frames one stream may send at once to catch up after a late tick; more are skipped (timestamps jump). */
        maxBurstFrames: z.number().int().min(1).max(50).default(3),
        /** Uploads converted at once (each a worker thread holding the decoded audio); 0: one per core of the host. */
        conversions: z.number().int().min(0).max(64).default(0),
        /** Uploads waiting for a conversion slot; one more is refused with 503 + Retry-After. */
        conversionQueue: z.number().int().min(0).max(1000).default(8),
        /** Bearer token for POST/GET /api/moh (operator access until gateway sessions land); empty: API disabled. */
        apiToken: z.string().default(''),
        /**
         * rtpengine media relays (NG control addresses) with weights; empty: no media relay, so calls between a browser
         * and plain RTP get 488. A comma-separated string (env SIPEDGE_MEDIA__RTPENGINE) is a list too.
         */
        rtpengine: z
          .preprocess((v) => (typeof v === 'string' ? (v.trim() === '' ? [] : v.split(',')) : v), z.array(rtpengineSchema))
          .default([])
          .superRefine((list, ctx) => {
            const seen = new Set<string>();
            list.forEach((r, i) => {
              if (seen.has(r.address)) ctx.addIssue({ code: 'custom', path: [i], message: 'is listed twice (each address is one rtpengine and one metric label)' });
              seen.add(r.address);
            });
          }),
        /** "bridge": anchor calls whose two sides differ (WebRTC <-> plain RTP); "always": every call with SDP; "off": none. */
        anchoring: z.enum(ANCHORING_MODES).default('bridge'),
        /** NG pings of every rtpengine (hysteresis as proxy.probe); commands wait timeoutSeconds too. */
        rtpengineProbe: z
          .object({
            /** Time between pings; seconds. */
            intervalSeconds: z.number().min(0.5).default(5),
            /** A ping or command without a reply within this fails (retransmitted 4 times meanwhile); seconds. */
            timeoutSeconds: z.number().min(0.1).max(10).default(1),
            /** Consecutive failed pings or commands that mark an up rtpengine down. */
            failuresToDown: z.number().int().min(1).default(2),
            /** Consecutive answered pings that mark a down rtpengine up. */
            successesToUp: z.number().int().min(1).default(2),
          })
          .strict()
          .refine((p) => p.timeoutSeconds < p.intervalSeconds, { path: ['timeoutSeconds'], message: 'must be less than media.rtpengineProbe.intervalSeconds' })
          .prefault({}),
      })
      .strict()
      .refine((m) => m.rtpPortMin < m.rtpPortMax, { path: ['rtpPortMax'], message: 'must be greater than media.rtpPortMin' })
      .refine((m) => m.rtpPortMin + (m.rtpPortMin & 1) + 1 <= m.rtpPortMax, {
        path: ['rtpPortMax'],
        message: 'must leave room for one even RTP port and the odd RTCP port above it, from media.rtpPortMin on',
      })
      .prefault({}),
    /** Many nodes on one Redis (README "Many nodes"): the node registry and the authenticated internal hop between nodes. */
    cluster: z
      .object({
        /** host:port other nodes reach this node's internal hop at (SIP over TCP); empty: the bound sip.tcp address. */
        address: z.string().refine((s) => s === '' || parseHostPort(s) !== undefined, { message: 'is not host:port (e.g. 10.0.0.2:5060) or empty' }).default(''),
        /**
         * A SIP-over-TCP listener of this node's own for the internal hop (never shared), e.g. 127.0.0.1:5070; "off":
         * the hop arrives on sip.tcp. Needed with sip.reusePort, where sip.tcp is shared by the nodes of the host.
         */
        listen: listenAddress.default('off'),
        /** How often a node writes its record to the registry; seconds (fractions allowed). */
        heartbeatSeconds: z.number().min(0.1).default(2),
        /** A node whose record is older than this is dead: the others remove its connection bindings; seconds. */
        deadAfterSeconds: z.number().min(0.3).default(10),
      })
      .strict()
      .refine((c) => c.deadAfterSeconds >= 2 * c.heartbeatSeconds, {
        path: ['deadAfterSeconds'],
        message: 'must be at least twice cluster.heartbeatSeconds (one late heartbeat must not kill a node)',
      })
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const bound: { key: string; host: string; port: number }[] = [];
    for (const [section, name] of TCP_LISTENERS) {
      const value = (c[section] as Record<string, string>)[name]!;
      const a = value === 'off' ? undefined : parseHostPort(value);
      if (a === undefined || a.port === 0) continue;
      const key = `${section}.${name}`;
      const other = bound.find((b) => b.port === a.port && (b.host === a.host || WILDCARD_HOSTS.has(b.host) || WILDCARD_HOSTS.has(a.host)));
      if (other !== undefined) ctx.addIssue({ code: 'custom', path: [section, name], message: `uses the TCP port of ${other.key} (one listener per port)` });
      bound.push({ key, ...a });
    }
    if (c.sip.reusePort && c.store !== 'redis') {
      // Each process keeps its own embedded store: a phone registered at one node would be unknown to the others.
      ctx.addIssue({ code: 'custom', path: ['sip', 'reusePort'], message: 'needs store "redis": nodes sharing a port must share registrations, and the embedded store is private to one process' });
    }
    if (c.sip.reusePort && c.cluster.listen === 'off') {
      ctx.addIssue({
        code: 'custom',
        path: ['cluster', 'listen'],
        message: 'must be this node\'s own host:port when sip.reusePort is on: the internal hop to a shared sip.tcp would reach whichever node the kernel picks',
      });
    }
    c.upstreams.forEach((u, i) => {
      if (u.transport === 'tls' && c.sip.tls === 'off') {
        // The upstream's in-dialog requests come back to the edge's Record-Route, which names the TLS listener.
        ctx.addIssue({ code: 'custom', path: ['sip', 'tls'], message: `must listen: upstreams[${i}] is a TLS upstream` });
      }
    });
  });

export type Config = z.infer<typeof configSchema>;
