// RTP port pairs from the configured range: an even RTP port with its RTCP port above it, both bound; the peer's RTCP
// counts as a sign of life; both ports come back on close; a pair with either port taken is skipped.
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { monotonicClock } from '../../src/clock.ts';
import { RtpPortPool, type RtpSocket } from '../../src/media/rtp-socket.ts';
import { loadConfig } from '../../src/config/load.ts';
import { isPrivateAddress } from '../../src/transport/local-address.ts';

const open: RtpSocket[] = [];
const others: dgram.Socket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  for (const s of others.splice(0)) s.close();
});

/** True when nobody holds 127.0.0.1:port (UDP). */
async function free(port: number): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  const ok = await new Promise<boolean>((r) => {
    s.once('error', () => r(false));
    s.bind(port, '127.0.0.1', () => r(true));
  });
  s.close();
  return ok;
}

const base = () => 41000 + 2 * Math.floor(Math.random() * 4000);

describe('RTP port pool', () => {
  it('binds an even RTP port and the RTCP port above it, and frees both on close', async () => {
    const b = base();
    const pool = new RtpPortPool({ min: b + 1, max: b + 20 }, monotonicClock); // an odd min starts at the next even port
    const s = (await pool.open('127.0.0.1'))!;
    expect(s.port).toBe(b + 2);
    expect(await free(s.port)).toBe(false);
    expect(await free(s.port + 1)).toBe(false);
    s.close();
    expect(await free(s.port)).toBe(true);
    expect(await free(s.port + 1)).toBe(true);
    expect(pool.used).toBe(0);
  });

  it('counts RTCP from the peer as a sign of life (a silent phone still sends receiver reports)', async () => {
    const b = base();
    const s = (await new RtpPortPool({ min: b, max: b + 9 }, monotonicClock).open('127.0.0.1'))!;
    open.push(s);
    expect(s.lastHeardAt).toBe(0);
    const peer = dgram.createSocket('udp4');
    others.push(peer);
    const before = performance.now();
    // An RTCP receiver report header (RFC 3550 §6.4.2): V=2, PT=201, length 1.
    peer.send(Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 1]), s.port + 1, '127.0.0.1');
    for (let i = 0; i < 50 && s.lastHeardAt === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(s.lastHeardAt).toBeGreaterThanOrEqual(before);
  });

  it('hands out pairs within the range only, then none; skips a pair whose RTCP port someone else holds', async () => {
    const b = base();
    const squatter = dgram.createSocket('udp4');
    others.push(squatter);
    await new Promise<void>((r) => squatter.bind(b + 3, '127.0.0.1', () => r()));
    // b..b+6: pairs (b, b+1), (b+2, b+3) taken by the squatter's RTCP port, (b+4, b+5); b+6 has no RTCP port in range.
    const pool = new RtpPortPool({ min: b, max: b + 6 }, monotonicClock);
    const a = (await pool.open('127.0.0.1'))!;
    const c = (await pool.open('127.0.0.1'))!;
    open.push(a, c);
    expect([a.port, c.port]).toEqual([b, b + 4]);
    expect(await pool.open('127.0.0.1')).toBeUndefined();
    c.close();
    open.pop();
    const d = await pool.open('127.0.0.1');
    open.push(d!);
    expect(d?.port).toBe(b + 4);
  });

  it('refuses a configured range with no room for an RTP/RTCP pair, naming the key', () => {
    expect(() => loadConfig({ env: {}, overrides: { media: { rtpPortMin: 30001, rtpPortMax: 30002 } } })).toThrow(/media\.rtpPortMax/);
    expect(loadConfig({ env: {}, overrides: { media: { rtpPortMin: 30000, rtpPortMax: 30001 } } }).media.rtpPortMax).toBe(30001);
  });
});

describe('NAT detection from the SDP address', () => {
  it('treats RFC 1918, carrier-grade NAT, link-local and IPv6 ULA/link-local addresses as private, nothing else', () => {
    for (const ip of ['10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.1.20', '100.64.0.1', '100.127.255.254', '169.254.3.3', 'fd12:3456::1', 'fe80::1'])
      expect(isPrivateAddress(ip), ip).toBe(true);
    for (const ip of ['8.8.8.8', '172.15.0.1', '172.32.0.1', '192.169.0.1', '100.63.255.255', '100.128.0.1', '127.0.0.1', '203.0.113.5', '2001:db8::1', '::1'])
      expect(isPrivateAddress(ip), ip).toBe(false);
  });
});
