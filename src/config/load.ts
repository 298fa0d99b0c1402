// Loads config: schema defaults <- JSON file <- environment overrides; validates and freezes once.
// A bad value becomes one SipedgeError line that names the key; never a stack trace.
import { readFileSync } from 'node:fs';
import { configSchema, type Config } from './schema.ts';
import { SipedgeError } from '../errors.ts';
import { IO_SWITCHES } from './io-switches.ts';

/** Env names fixed by the issues (outside checks use them), mapped to key paths. */
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
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.startsWith('SIPEDGE_') || NOT_CONFIG.has(name)) continue;
    if (name === 'SIPEDGE_UPSTREAMS') {
      raw.upstreams = parseUpstreamsEnv(value);
      continue;
    }
    const path = ENV_ALIASES[name] ?? envNameToPath(name);
    if (!path) continue;
    setPath(raw, path, coerceEnv(value, ENV_ALIASES[name] !== undefined));
  }
  const layers = opts.overrides === undefined ? [] : Array.isArray(opts.overrides) ? opts.overrides : [opts.overrides];
  for (const layer of layers) merge(raw, layer as Record<string, unknown>);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = keyOf(issue.path as (string | number)[]);
    const value = getPath(raw, issue.path as (string | number)[]);
    const shown = value === undefined ? '' : ` ${JSON.stringify(value)}`;
    let rule = issue.message;
    if (issue.code === 'unrecognized_keys') rule = `unknown key(s): ${(issue as { keys: string[] }).keys.join(', ')}`;
    throw new SipedgeError('SIPEDGE_ERR_CONFIG_INVALID', `config: ${key}${shown}: ${rule}`);
  }
  return deepFreeze(result.data);
}

/** ['upstreams', 1, 'uri'] -> upstreams[1].uri */
function keyOf(path: (string | number)[]): string {
  let key = '';
  for (const p of path) key += typeof p === 'number' ? `[${p}]` : key === '' ? p : `.${p}`;
  return key || '(root)';
}

/**
 * SIPEDGE_UPSTREAMS (name fixed by issue 3; outside checks use it): comma-separated SIP URIs, each with optional
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
