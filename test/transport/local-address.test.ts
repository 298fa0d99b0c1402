// Which address the edge names itself by when it listens on a wildcard: per peer, from the host's interfaces and
// default route (injected here), never 0.0.0.0.
import { describe, expect, it } from 'vitest';
import type os from 'node:os';
import { isWildcard, LocalAddresses, systemAddressSource, type LocalAddressSource } from '../../src/transport/local-address.ts';

function v4(address: string, netmask: string, internal = false): os.NetworkInterfaceInfo {
  return { address, netmask, family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: null };
}
function v6(address: string, netmask: string, internal = false): os.NetworkInterfaceInfo {
  return { address, netmask, family: 'IPv6', mac: '00:00:00:00:00:00', internal, cidr: null, scopeid: 0 };
}

/** A host with loopback, a LAN (eth0, default route) and a second network (eth1). */
function host(over: Partial<LocalAddressSource> = {}): LocalAddressSource {
  return {
    interfaces: () => ({
      lo: [v4('127.0.0.1', '255.0.0.0', true), v6('::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true)],
      eth1: [v4('10.20.0.5', '255.255.0.0'), v6('fe80::2', 'ffff:ffff:ffff:ffff::'), v6('fd00:20::5', 'ffff:ffff:ffff:ffff::')],
      eth0: [v4('192.168.1.10', '255.255.255.0'), v6('2001:db8:1::10', 'ffff:ffff:ffff:ffff::')],
    }),
    defaultInterface: (family) => (family === 4 ? 'eth0' : 'eth0'),
    ...over,
  };
}

describe('local address for a wildcard listener', () => {
  it('answers a bound (non-wildcard) address unchanged', () => {
    const l = new LocalAddresses(host());
    expect(l.for('10.20.3.4', '192.168.1.10')).toBe('192.168.1.10');
    expect(isWildcard('0.0.0.0') && isWildcard('::') && isWildcard('') && !isWildcard('127.0.0.1')).toBe(true);
  });

  it('names loopback to a peer on this host', () => {
    const l = new LocalAddresses(host());
    expect(l.for('127.0.0.1', '0.0.0.0')).toBe('127.0.0.1');
    expect(l.for('127.0.0.2', '0.0.0.0')).toBe('127.0.0.1');
    expect(l.for('::1', '::')).toBe('::1');
  });

  it('names the interface whose subnet holds the peer', () => {
    const l = new LocalAddresses(host());
    expect(l.for('10.20.99.1', '0.0.0.0')).toBe('10.20.0.5');
    expect(l.for('192.168.1.77', '0.0.0.0')).toBe('192.168.1.10');
    expect(l.for('::ffff:10.20.1.1', '::')).toBe('10.20.0.5');
    expect(l.for('fd00:20::99', '::')).toBe('fd00:20::5');
  });

  it('names the default route\'s interface to anybody else, then the first non-internal address', () => {
    expect(new LocalAddresses(host()).for('203.0.113.9', '0.0.0.0')).toBe('192.168.1.10');
    expect(new LocalAddresses(host()).for(undefined, '0.0.0.0')).toBe('192.168.1.10');
    expect(new LocalAddresses(host()).for('2001:db8:99::1', '::')).toBe('2001:db8:1::10');
    expect(new LocalAddresses(host({ defaultInterface: () => 'eth1' })).for('203.0.113.9', '0.0.0.0')).toBe('10.20.0.5');
    // No default route: the first usable address (never a link-local IPv6 one).
    expect(new LocalAddresses(host({ defaultInterface: () => undefined })).for('203.0.113.9', '0.0.0.0')).toBe('10.20.0.5');
    expect(new LocalAddresses(host({ defaultInterface: () => undefined })).for('2001:db8:99::1', '::')).toBe('fd00:20::5');
  });

  it('falls back to loopback on a host with no other address', () => {
    const l = new LocalAddresses({ interfaces: () => ({ lo: [v4('127.0.0.1', '255.0.0.0', true)] }), defaultInterface: () => undefined });
    expect(l.for('203.0.113.9', '0.0.0.0')).toBe('127.0.0.1');
  });

  it('reads the interfaces again after 30 s (an address added later is used)', () => {
    let now = 0;
    let addr = '192.168.1.10';
    const l = new LocalAddresses(
      { interfaces: () => ({ eth0: [v4(addr, '255.255.255.0')] }), defaultInterface: () => 'eth0' },
      () => now,
    );
    expect(l.for('203.0.113.9', '0.0.0.0')).toBe('192.168.1.10');
    addr = '192.168.1.20';
    now = 29_000;
    expect(l.for('203.0.113.9', '0.0.0.0')).toBe('192.168.1.10');
    now = 31_000;
    expect(l.for('203.0.113.9', '0.0.0.0')).toBe('192.168.1.20');
  });

  it('finds this machine\'s IPv4 default route in /proc/net/route', () => {
    // The test VM has one (eth0); the answer must be an interface that exists.
    const name = systemAddressSource.defaultInterface(4);
    expect(name).toBeDefined();
    expect(Object.keys(systemAddressSource.interfaces())).toContain(name);
  });
});

describe('local address of a flow', () => {
  it('keeps a connection\'s own local address (IPv4-mapped written as IPv4) and picks one for a wildcard UDP flow', () => {
    const l = new LocalAddresses(host());
    expect(l.forFlow({ localAddress: '10.20.0.5', remoteAddress: '192.168.1.77' })).toBe('10.20.0.5');
    expect(l.forFlow({ localAddress: '::ffff:192.168.1.10', remoteAddress: '::ffff:192.168.1.77' })).toBe('192.168.1.10');
    expect(l.forFlow({ localAddress: '0.0.0.0', remoteAddress: '192.168.1.77' })).toBe('192.168.1.10');
    expect(l.forFlow({ localAddress: '0.0.0.0', remoteAddress: '127.0.0.5' })).toBe('127.0.0.1');
  });
});
