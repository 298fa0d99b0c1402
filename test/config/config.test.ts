// Config as an operator meets it: defaults, env overrides by the documented names, one-line errors naming the key,
// and a README that documents every key and every error code.
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IO_SWITCHES } from '../../src/config/io-switches.ts';
import { loadConfig } from '../../src/config/load.ts';
import { parseUpstreamUri } from '../../src/config/schema.ts';
import { SipedgeError } from '../../src/errors.ts';

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

  it('leaves the native I/O switches to the code that reads them instead of refusing them as unknown keys', () => {
    const c = loadConfig({ env: { [IO_SWITCHES.nativeUdp]: '0', [IO_SWITCHES.nativeRtp]: '0', SIPEDGE_SIP_UDP: '127.0.0.1:5070' } });
    expect(c.sip.udp).toBe('127.0.0.1:5070');
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_NATIVE_UPD: '0' } })).message).toContain('nativeUpd');
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
    const codes = readFileSync('src/errors.ts', 'utf8').match(/SIPEDGE_ERR_[A-Z_]+/g)!;
    for (const code of new Set(codes)) expect(readme, code).toContain(code);
  });

  it('ships an example config that loads and equals the defaults', () => {
    const example = JSON.parse(readFileSync('config/sipedge.example.json', 'utf8')) as unknown;
    expect(loadConfig({ file: 'config/sipedge.example.json', env: {} })).toEqual(example);
    expect(example).toEqual(loadConfig({ env: {} }));
  });

  it('reads the upstream set from SIPEDGE_UPSTREAMS with priority, weight and transport', () => {
    const c = loadConfig({ env: { SIPEDGE_UPSTREAMS: 'sip:pbx1.example.com:5060;priority=1;weight=10,sip:10.0.0.2;transport=tcp' } });
    expect(c.upstreams).toEqual([
      { uri: 'sip:pbx1.example.com:5060', priority: 1, weight: 10, transport: 'udp' },
      { uri: 'sip:10.0.0.2;transport=tcp', priority: 1, weight: 1, transport: 'tcp' },
    ]);
    expect(loadConfig({ env: { SIPEDGE_UPSTREAMS: '' } }).upstreams).toEqual([]);
    expect(loadConfig({ env: {} }).proxy.probe).toEqual({ intervalSeconds: 10, timeoutSeconds: 2, failuresToDown: 3, successesToUp: 2 });
  });

  it('names the bad upstream by its index in one line', () => {
    const bad = errorOf(() => loadConfig({ env: { SIPEDGE_UPSTREAMS: 'sip:pbx1.example.com,sip:' } }));
    expect(bad.code).toBe('SIPEDGE_ERR_CONFIG_INVALID');
    expect(bad.message).toBe('config: upstreams[1].uri "sip:": is not a sip: URI with a host (e.g. sip:pbx1.example.com:5060)');
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_UPSTREAMS: 'http://pbx' } })).message).toContain('upstreams[0].uri "http://pbx"');
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_UPSTREAMS: 'sip:pbx:70000' } })).message).toContain('upstreams[0].uri');
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_UPSTREAMS: 'sip:pbx;priority=high' } })).message).toContain('upstreams[0].priority "high"');
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_UPSTREAMS: 'sip:pbx;transport=sctp' } })).message).toContain('names a transport other than udp, tcp or tls');
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_UPSTREAMS: 'sip:a,sip:b,sip:a' } })).message).toContain('upstreams[2].uri "sip:a": is listed twice');
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_PROXY__PROBE__TIMEOUT_SECONDS: '10' } })).message).toBe(
      'config: proxy.probe.timeoutSeconds 10: must be less than proxy.probe.intervalSeconds',
    );
  });

  it('refuses a node registry timing where one late heartbeat would kill a node, and a cluster address that is not host:port', () => {
    expect(loadConfig({ env: {} }).cluster).toEqual({ address: '', heartbeatSeconds: 2, deadAfterSeconds: 10 });
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_CLUSTER__DEAD_AFTER_SECONDS: '3' } })).message).toBe(
      'config: cluster.deadAfterSeconds 3: must be at least twice cluster.heartbeatSeconds (one late heartbeat must not kill a node)',
    );
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_CLUSTER__ADDRESS: '10.0.0.2' } })).message).toBe(
      'config: cluster.address "10.0.0.2": is not host:port (e.g. 10.0.0.2:5060) or empty',
    );
  });

  it('takes TLS upstreams as sips: or ;transport=tls (port 5061 unless named) and needs the TLS listener for them', () => {
    const c = loadConfig({ env: { SIPEDGE_UPSTREAMS: 'sips:pbx1.example.com,sip:10.0.0.2:5071;transport=tls' } });
    expect(c.upstreams.map((u) => u.transport)).toEqual(['tls', 'tls']);
    expect(c.upstreams.map((u) => parseUpstreamUri(u.uri)?.port)).toEqual([5061, 5071]);
    expect(parseUpstreamUri('sip:pbx;transport=tls')?.port).toBe(5061);
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_UPSTREAMS: 'sips:pbx1.example.com', SIPEDGE_SIP_TLS: 'off' } })).message).toBe(
      'config: sip.tls "off": must listen: upstreams[0] is a TLS upstream',
    );
    const envs = loadConfig({ env: { SIPEDGE_SIP_TLS: '127.0.0.1:5062', SIPEDGE_SIP_WSS: 'off', SIPEDGE_HTTPS: '[::1]:9443' } });
    expect([envs.sip.tls, envs.sip.wss, envs.http.https]).toEqual(['127.0.0.1:5062', 'off', '[::1]:9443']);
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_HTTPS: '8443' } })).message).toContain('http.https "8443"');
  });

  it('takes upstreams from a config file too, refusing a transport the uri contradicts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipedge-cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ upstreams: [{ uri: 'sip:[2001:db8::1]:5080', priority: 0, transport: 'tcp' }] }));
    expect(loadConfig({ file, env: {} }).upstreams).toEqual([{ uri: 'sip:[2001:db8::1]:5080', priority: 0, weight: 1, transport: 'tcp' }]);
    writeFileSync(file, JSON.stringify({ upstreams: [{ uri: 'sip:pbx;transport=udp', transport: 'tcp' }] }));
    expect(errorOf(() => loadConfig({ file, env: {} })).message).toBe(`config: upstreams[0].transport "tcp": contradicts the uri's ;transport=udp`);
  });
});
