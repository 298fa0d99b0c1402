// Config as an operator meets it: defaults, env overrides by the documented names, errors naming key, value and rule,
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
    expect(e.message).toBe('config: sip.tcp "localhost" (from SIPEDGE_SIP_TCP): is not host:port (e.g. 0.0.0.0:5060) or "off"');
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

  it('reports every problem at once, one line each naming the key, the value and the rule', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipedge-cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ registrar: { minExpires: 'soon' }, auth: { lockout: { maxFailures: 0 } } }));
    const e = errorOf(() => loadConfig({ file, env: { SIPEDGE_SIP_TCP: 'localhost', SIPEDGE_STORE: 'mysql' } }));
    expect(e.code).toBe('SIPEDGE_ERR_CONFIG_INVALID');
    const lines = e.message.split('\n').sort();
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^config: auth\.lockout\.maxFailures 0: .*>=\s*1/);
    expect(lines[1]).toMatch(/^config: registrar\.minExpires "soon": .*number/);
    expect(lines[2]).toBe('config: sip.tcp "localhost" (from SIPEDGE_SIP_TCP): is not host:port (e.g. 0.0.0.0:5060) or "off"');
    expect(lines[3]).toMatch(/^config: store "mysql" \(from SIPEDGE_STORE\): .*"memory"/);
  });

  it('names an unknown key alone, with the nearest known key, never the values around it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipedge-cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ gatway: { encryptionKey: 'do-not-print-me' }, registrar: { minExpire: 30, maxExpires: 600 }, zzz: 1 }));
    const e = errorOf(() => loadConfig({ file, env: { SIPEDGE_AUTH__LOCKOUT__MAX_FAILUERS: '3' } }));
    expect(e.message.split('\n').sort()).toEqual([
      'config: auth.lockout.maxFailuers (from SIPEDGE_AUTH__LOCKOUT__MAX_FAILUERS): unknown key; did you mean auth.lockout.maxFailures?',
      'config: gatway: unknown key; did you mean gateway?',
      'config: registrar.minExpire: unknown key; did you mean registrar.minExpires?',
      'config: zzz: unknown key',
    ]);
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_GATEWAY__ENCRYPTION_KEY: 'short-secret' } })).message).toBe(
      'config: gateway.encryptionKey (value not shown) (from SIPEDGE_GATEWAY__ENCRYPTION_KEY): must be 32 bytes as 64 hex characters or base64 (44/43 characters), or empty',
    );
  });

  it('checks keys against each other: expiry bounds, port ranges, one TCP listener per port', () => {
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_REGISTRAR__MIN_EXPIRES: '600', SIPEDGE_REGISTRAR__MAX_EXPIRES: '300' } })).message).toBe(
      'config: registrar.minExpires 600 (from SIPEDGE_REGISTRAR__MIN_EXPIRES): must not be above registrar.maxExpires',
    );
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_SIP_UDP: '0.0.0.0:70000' } })).message).toBe(
      'config: sip.udp "0.0.0.0:70000" (from SIPEDGE_SIP_UDP): port 70000 is out of range (0-65535)',
    );
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_SIP_WS: '127.0.0.1:8080', SIPEDGE_HTTP: '0.0.0.0:8080' } })).message).toBe(
      'config: http.listen "0.0.0.0:8080" (from SIPEDGE_HTTP): uses the TCP port of sip.ws (one listener per port)',
    );
    // UDP and TCP share 5060 by design; two addresses of the host may each have their own listener on one port; port 0 is any port.
    expect(loadConfig({ env: { SIPEDGE_SIP_UDP: '0.0.0.0:5060', SIPEDGE_SIP_TCP: '0.0.0.0:5060' } }).sip.tcp).toBe('0.0.0.0:5060');
    expect(loadConfig({ env: { SIPEDGE_SIP_WS: '127.0.0.1:8080', SIPEDGE_HTTP: '127.0.0.2:8080' } }).http.listen).toBe('127.0.0.2:8080');
    expect(loadConfig({ env: { SIPEDGE_SIP_WS: '127.0.0.1:0', SIPEDGE_HTTP: '127.0.0.1:0' } }).http.listen).toBe('127.0.0.1:0');
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

  it('reads the rtpengines from SIPEDGE_MEDIA__RTPENGINE (comma-separated udp:host:port;weight=N) or a file list of strings or objects', () => {
    expect(loadConfig({ env: { SIPEDGE_MEDIA__RTPENGINE: 'udp:127.0.0.1:22222;weight=3,udp:[::1]:2223' } }).media.rtpengine).toEqual([
      { address: 'udp:127.0.0.1:22222', weight: 3 },
      { address: 'udp:[::1]:2223', weight: 1 },
    ]);
    const listed = loadConfig({ env: {}, overrides: { media: { rtpengine: ['udp:rtp1.example.com:22222' as never, { address: 'udp:10.0.0.9:22222', weight: 0 }] } } });
    expect(listed.media.rtpengine).toEqual([{ address: 'udp:rtp1.example.com:22222', weight: 1 }, { address: 'udp:10.0.0.9:22222', weight: 0 }]);
    expect(loadConfig({ env: {} }).media).toMatchObject({ rtpengine: [], anchoring: 'bridge' });
  });

  it('names a bad rtpengine address, parameter or anchoring mode in one line', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ SIPEDGE_MEDIA__RTPENGINE: 'tcp:127.0.0.1:22222' }, /^config: media\.rtpengine\[0\]\.address: "tcp:127\.0\.0\.1:22222" is not an NG address udp:host:port \(e\.g\. udp:127\.0\.0\.1:22222\)$/],
      [{ SIPEDGE_MEDIA__RTPENGINE: 'udp:127.0.0.1:22222;wieght=2' }, /^config: media\.rtpengine\[0\]\.parameter: ";wieght=2" is not a parameter of an rtpengine address \(only ;weight=N\)$/],
      [{ SIPEDGE_MEDIA__RTPENGINE: 'udp:127.0.0.1:1,udp:127.0.0.1:1' }, /media\.rtpengine\[1\].*listed twice/],
      [{ SIPEDGE_MEDIA__ANCHORING: 'sometimes' }, /^config: media\.anchoring "sometimes"/],
    ];
    for (const [env, message] of cases) {
      const e = errorOf(() => loadConfig({ env }));
      expect(e.code).toBe('SIPEDGE_ERR_CONFIG_INVALID');
      expect(e.message).toMatch(message);
    }
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
      'config: proxy.probe.timeoutSeconds 10 (from SIPEDGE_PROXY__PROBE__TIMEOUT_SECONDS): must be less than proxy.probe.intervalSeconds',
    );
  });

  it('refuses a node registry timing where one late heartbeat would kill a node, and a cluster address that is not host:port', () => {
    expect(loadConfig({ env: {} }).cluster).toEqual({ address: '', listen: 'off', heartbeatSeconds: 2, deadAfterSeconds: 10 });
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_CLUSTER__DEAD_AFTER_SECONDS: '3' } })).message).toBe(
      'config: cluster.deadAfterSeconds 3 (from SIPEDGE_CLUSTER__DEAD_AFTER_SECONDS): must be at least twice cluster.heartbeatSeconds (one late heartbeat must not kill a node)',
    );
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_CLUSTER__ADDRESS: '10.0.0.2' } })).message).toBe(
      'config: cluster.address "10.0.0.2" (from SIPEDGE_CLUSTER__ADDRESS): is not host:port (e.g. 10.0.0.2:5060) or empty',
    );
  });

  it('refuses sip.reusePort on the embedded store and without a hop listener of the node\'s own, naming the problem', () => {
    expect(loadConfig({ env: {} }).sip.reusePort).toBe(false);
    const lines = errorOf(() => loadConfig({ env: { SIPEDGE_SIP__REUSE_PORT: 'true' } })).message.split('\n').sort();
    expect(lines).toEqual([
      'config: cluster.listen: must be this node\'s own host:port when sip.reusePort is on: the internal hop to a shared sip.tcp would reach whichever node the kernel picks',
      'config: sip.reusePort true (from SIPEDGE_SIP__REUSE_PORT): needs store "redis": nodes sharing a port must share registrations, and the embedded store is private to one process',
    ]);
    const ok = loadConfig({ env: { SIPEDGE_SIP__REUSE_PORT: 'true', SIPEDGE_STORE: 'redis', SIPEDGE_CLUSTER__LISTEN: '127.0.0.1:5070' } });
    expect([ok.sip.reusePort, ok.cluster.listen]).toEqual([true, '127.0.0.1:5070']);
    // The hop listener is one more TCP listener of the node: not on the port of another.
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_CLUSTER__LISTEN: '127.0.0.1:5060' } })).message).toBe(
      'config: cluster.listen "127.0.0.1:5060" (from SIPEDGE_CLUSTER__LISTEN): uses the TCP port of sip.tcp (one listener per port)',
    );
  });

  it('takes TLS upstreams as sips: or ;transport=tls (port 5061 unless named) and needs the TLS listener for them', () => {
    const c = loadConfig({ env: { SIPEDGE_UPSTREAMS: 'sips:pbx1.example.com,sip:10.0.0.2:5071;transport=tls' } });
    expect(c.upstreams.map((u) => u.transport)).toEqual(['tls', 'tls']);
    expect(c.upstreams.map((u) => parseUpstreamUri(u.uri)?.port)).toEqual([5061, 5071]);
    expect(parseUpstreamUri('sip:pbx;transport=tls')?.port).toBe(5061);
    expect(errorOf(() => loadConfig({ env: { SIPEDGE_UPSTREAMS: 'sips:pbx1.example.com', SIPEDGE_SIP_TLS: 'off' } })).message).toBe(
      'config: sip.tls "off" (from SIPEDGE_SIP_TLS): must listen: upstreams[0] is a TLS upstream',
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
