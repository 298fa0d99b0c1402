// The one config schema: every key with its default and unit. Loading and env overrides are in load.ts.
// Services receive their frozen slice; nothing reads process.env after start.
import { z } from 'zod';

/** "host:port" (IPv4, [IPv6] or name), or "off" to disable a listener. Port 0 = any free port. */
const listenAddress = z
  .string()
  .refine((s) => s === 'off' || parseHostPort(s) !== undefined, {
    message: 'is not host:port (e.g. 0.0.0.0:5060) or "off"',
  });

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

const seconds = (def: number) => z.number().int().min(0).default(def);

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
      })
      .strict()
      .prefault({}),
    sip: z
      .object({
        udp: listenAddress.default('0.0.0.0:5060'),
        tcp: listenAddress.default('0.0.0.0:5060'),
        ws: listenAddress.default('0.0.0.0:5066'),
        /** Host (and port) the edge puts in Via/Record-Route/Path; default: the listen address, or 127.0.0.1 when it is 0.0.0.0. */
        advertisedHost: z.string().default(''),
        /** Largest SIP message accepted, in bytes (UDP datagram or stream frame). */
        maxMessageBytes: z.number().int().min(1024).max(1_048_576).default(65_535),
        /** Close a TCP/WS connection with no traffic for this long; seconds. */
        idleTimeoutSeconds: seconds(600),
        /** Value of the Server/User-Agent header. */
        serverName: z.string().default('sipedge'),
      })
      .strict()
      .prefault({}),
    http: z
      .object({
        listen: listenAddress.default('0.0.0.0:8080'),
      })
      .strict()
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
        /** User-Agent substrings (case-insensitive) dropped silently. */
        scannerUserAgents: z
          .array(z.string().min(1))
          .default(['friendly-scanner', 'sipvicious', 'sipcli', 'VaxSIPUserAgent', 'pplsip']),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
