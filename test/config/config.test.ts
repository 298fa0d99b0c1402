// Config as an operator meets it: defaults, env overrides by the documented names, one-line errors naming the key,
// and a README that documents every key and every error code.
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { SipedgeError } from '../../src/config/errors.ts';

function leafKeys(o: unknown, prefix = ''): string[] {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return [prefix];
  return Object.entries(o as Record<string, unknown>).flatMap(([k, v]) => leafKeys(v, prefix ? `${prefix}.${k}` : k));
}

function errorOf(fn: () => unknown): SipedgeError {
  try {
    fn();
  } catch (e) {
    return e as SipedgeError;
  }
  throw new Error('expected an error');
}

describe('config', () => {
  it('applies the listen-address and data-dir overrides the outside checks use', () => {
    const c = loadConfig({
      env: {
        SIPEDGE_SIP_UDP: '127.0.0.1:5070',
        SIPEDGE_SIP_TCP: '127.0.0.1:5071',
        SIPEDGE_SIP_WS: 'off',
        SIPEDGE_HTTP: '[::1]:9090',
        SIPEDGE_DATA_DIR: '/var/lib/sipedge',
      },
    });
    expect([c.sip.udp, c.sip.tcp, c.sip.ws, c.http.listen, c.dataDir]).toEqual(['127.0.0.1:5070', '127.0.0.1:5071', 'off', '[::1]:9090', '/var/lib/sipedge']);
  });

  it('maps any key from SIPEDGE_A__B__C and parses numbers and lists', () => {
    const c = loadConfig({ env: { SIPEDGE_AUTH__LOCKOUT__MAX_FAILURES: '3', SIPEDGE_AUTH__ALGORITHMS: '["MD5"]', SIPEDGE_STORE: 'redis' } });
    expect(c.auth.lockout.maxFailures).toBe(3);
    expect(c.auth.algorithms).toEqual(['MD5']);
    expect(c.store).toBe('redis');
  });

  it('names the key, the value and the rule in one line', () => {
    const e = errorOf(() => loadConfig({ env: { SIPEDGE_SIP_TCP: 'localhost' } }));
    expect(e.code).toBe('SIPEDGE_ERR_CONFIG_INVALID');
    expect(e.message).toBe('config: sip.tcp "localhost": is not host:port (e.g. 0.0.0.0:5060) or "off"');
    const store = errorOf(() => loadConfig({ env: { SIPEDGE_STORE: 'mysql' } }));
    expect(store.message.split('\n')).toHaveLength(1);
    expect(store.message).toContain('store "mysql"');
  });

  it('refuses an unknown key in a config file instead of ignoring a typo', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipedge-cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ registrar: { minExpire: 30 } }));
    const e = errorOf(() => loadConfig({ file, env: {} }));
    expect(e.message).toContain('minExpire');
    writeFileSync(file, '{ not json');
    expect(errorOf(() => loadConfig({ file, env: {} })).code).toBe('SIPEDGE_ERR_CONFIG_FILE');
  });

  it('documents every config key and every error code in the README', () => {
    const readme = readFileSync('README.md', 'utf8');
    for (const key of leafKeys(loadConfig({ env: {} }))) {
      const documented = readme.includes(`\`${key}\``) || readme.split('\n').some((l) => l.startsWith('|') && l.includes(key.split('.').slice(0, -1).join('.')) && l.includes(`\`${key.split('.').pop()}\``));
      expect(documented, key).toBe(true);
    }
    const codes = readFileSync('src/config/errors.ts', 'utf8').match(/SIPEDGE_ERR_[A-Z_]+/g)!;
    for (const code of new Set(codes)) expect(readme, code).toContain(code);
  });

  it('ships an example config that loads and equals the defaults', () => {
    const example = JSON.parse(readFileSync('config/sipedge.example.json', 'utf8')) as unknown;
    expect(loadConfig({ file: 'config/sipedge.example.json', env: {} })).toEqual(example);
    expect(example).toEqual(loadConfig({ env: {} }));
  });
});
