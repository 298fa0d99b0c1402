// Loads config: schema defaults <- JSON file <- environment overrides; validates and freezes once.
// Every bad value becomes one line of one SipedgeError (all of them at once), naming the key, the value and the rule;
// an unknown key is named with the closest known one. Never a stack trace.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { configSchema, type Config } from './schema.ts';
import { SipedgeError } from '../errors.ts';
import { IO_SWITCHES } from './io-switches.ts';

/** Env names with a fixed spelling (outside checks use them), mapped to key paths. */
const ENV_ALIASES: Record<string, string> = {
  SIPEDGE_SIP_UDP: 'sip.udp',
  SIPEDGE_SIP_TCP: 'sip.tcp',
  SIPEDGE_SIP_WS: 'sip.ws',
  SIPEDGE_SIP_TLS: 'sip.tls',
  SIPEDGE_SIP_WSS: 'sip.wss',
  SIPEDGE_HTTP: 'http.listen',
  SIPEDGE_HTTPS: 'http.https',
  SIPEDGE_DATA_DIR: 'dataDir',
  SIPEDGE_STORE: 'store',
  SIPEDGE_REDIS_URL: 'redis.url',
  SIPEDGE_LOG_LEVEL: 'log.level',
};

/** SIPEDGE_* variables that are not config keys: the config file's name and the I/O switches (io-switches.ts). */
const NOT_CONFIG = new Set<string>(['SIPEDGE_CONFIG', ...Object.values(IO_SWITCHES)]);

export type DeepPartial<T> = T extends unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

export interface LoadOptions {
  /** JSON file; when absent, SIPEDGE_CONFIG, else no file. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Applied last, in order (tests: a base layer, then the test's own). */
  overrides?: DeepPartial<Config> | DeepPartial<Config>[];
}

export function loadConfig(opts: LoadOptions = {}): Readonly<Config> {
  const env = opts.env ?? process.env;
  let raw: Record<string, unknown> = {};
  const file = opts.file ?? env.SIPEDGE_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new SipedgeError('SIPEDGE_ERR_CONFIG_FILE', `config: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new SipedgeError('SIPEDGE_ERR_CONFIG_FILE', `config: ${file} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new SipedgeError('SIPEDGE_ERR_CONFIG_FILE', `config: ${file} must hold a JSON object`);
    }
  }
  /** Key path -> the environment variable that set it, for the error lines. */
  const fromEnv = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.startsWith('SIPEDGE_') || NOT_CONFIG.has(name)) continue;
    if (name === 'SIPEDGE_UPSTREAMS') {
      raw.upstreams = parseUpstreamsEnv(value);
      continue;
    }
    const path = ENV_ALIASES[name] ?? envNameToPath(name);
    if (!path) continue;
    setPath(raw, path, coerceEnv(value, ENV_ALIASES[name] !== undefined));
    fromEnv.set(path, name);
  }
  const layers = opts.overrides === undefined ? [] : Array.isArray(opts.overrides) ? opts.overrides : [opts.overrides];
  for (const layer of layers) merge(raw, layer as Record<string, unknown>);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.flatMap((issue) => describeIssue(issue, raw, fromEnv));
    throw new SipedgeError('SIPEDGE_ERR_CONFIG_INVALID', lines.join('\n'));
  }
  return deepFreeze(result.data);
}

/**
 * One line per problem: `config: KEY VALUE: RULE`. An unknown key gets a line of its own naming only the key (never
 * the object around it, which may hold secrets) and the closest known key at that level.
 */
function describeIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>, fromEnv: Map<string, string>): string[] {
  const path = issue.path as (string | number)[];
  const origin = (key: string) => (fromEnv.has(key) ? ` (from ${fromEnv.get(key)})` : '');
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(path);
    return issue.keys.map((k) => {
      const key = keyOf([...path, k]);
      const near = closest(k, known);
      return `config: ${key}${origin(key)}: unknown key${near === undefined ? '' : `; did you mean ${keyOf([...path, near])}?`}`;
    });
  }
  const key = keyOf(path);
  return [`config: ${key}${shownValue(key, getPath(raw, path))}${origin(key)}: ${issue.message}`];
}

/** Keys whose values are secrets (or may carry one, as an SMTP URL's password): an error line never shows them. */
const SECRET = /(secret|key|token|password|smtpurl)$/i;

/** ` "value"` for the error line: scalars and lists of scalars; nothing for objects (the keys inside say more). */
function shownValue(key: string, value: unknown): string {
  if (value === undefined) return '';
  if (SECRET.test(key)) return ' (value not shown)';
  const scalar = (v: unknown) => v === null || typeof v !== 'object';
  return scalar(value) || (Array.isArray(value) && value.every(scalar)) ? ` ${JSON.stringify(value)}` : '';
}

/** The keys the schema knows in the object at `path` (array indexes step into the item schema). */
function knownKeys(path: (string | number)[]): string[] {
  type Node = { type?: string; properties?: Record<string, Node>; items?: Node };
  let node: Node | undefined = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Node;
  for (const p of path) node = typeof p === 'number' ? node?.items : node?.properties?.[p];
  return Object.keys(node?.properties ?? {});
}

/** The known key nearest to `key` by edit distance (case-insensitive), when it is near enough to be a typo. */
function closest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** ['upstreams', 1, 'uri'] -> upstreams[1].uri */
function keyOf(path: (string | number)[]): string {
  let key = '';
  for (const p of path) key += typeof p === 'number' ? `[${p}]` : key === '' ? p : `.${p}`;
  return key || '(root)';
}

/**
 * SIPEDGE_UPSTREAMS (a fixed name: outside checks use it): comma-separated SIP URIs, each with optional
 * `;priority=N;weight=N`, e.g. `sip:pbx1.example.com:5060;priority=1;weight=10,sip:10.0.0.2;transport=tcp`.
 * priority and weight are the edge's, so they leave the uri; `;transport=` is the URI's own and stays (the schema
 * derives the transport from it). Values are not checked here: the schema names the bad one, e.g. upstreams[1].uri.
 * An empty value means no upstreams.
 */
function parseUpstreamsEnv(value: string): Record<string, unknown>[] {
  if (value.trim() === '') return [];
  return value.split(',').map((item) => {
    const parts = item.trim().split(';');
    const entry: Record<string, unknown> = {};
    const kept = [parts[0]!];
    for (const param of parts.slice(1)) {
      const eq = param.indexOf('=');
      const name = (eq < 0 ? param : param.slice(0, eq)).toLowerCase();
      const text = eq < 0 ? '' : param.slice(eq + 1);
      if (name === 'priority' || name === 'weight') entry[name] = /^\d+$/.test(text) ? Number(text) : text;
      else kept.push(param);
    }
    return { uri: kept.join(';'), ...entry };
  });
}

/** SIPEDGE_AUTH__LOCKOUT__MAX_FAILURES -> auth.lockout.maxFailures */
function envNameToPath(name: string): string | undefined {
  const rest = name.slice('SIPEDGE_'.length);
  if (!rest) return undefined;
  return rest
    .split('__')
    .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()))
    .join('.');
}

function coerceEnv(value: string, isAddress: boolean): unknown {
  if (isAddress) return value;
  const t = value.trim();
  if (t === 'true' || t === 'false' || /^-?\d+(\.\d+)?$/.test(t) || t.startsWith('[') || t.startsWith('{')) {
    try {
      return JSON.parse(t);
    } catch {
      return value;
    }
  }
  return value;
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = cur[parts[i]!];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[parts[i]!] = {};
    cur = cur[parts[i]!] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}

function getPath(obj: unknown, path: (string | number)[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

function merge(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const cur = into[k];
      if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) into[k] = {};
      merge(into[k] as Record<string, unknown>, v as Record<string, unknown>);
    } else if (v !== undefined) into[k] = v;
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
