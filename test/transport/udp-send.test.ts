// The UDP send fast path: IP literals are sent without a DNS round (synchronous lookup), anything else still resolves.
// Real sockets on 127.0.0.1, port 0.
import { isIPv4 } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isIPv4Literal } from '../../src/transport/udp.ts';
import { startTransport, until, UdpPeer, type StartedTransport } from './peers.ts';

let edge: StartedTransport | undefined;
const peers: UdpPeer[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await edge?.layer.close();
  edge = undefined;
});

describe('UDP send', () => {
  it('sends to an IP literal within flow.send, and to a host name after resolving it', async () => {
    edge = await startTransport({ tcp: 'off', ws: 'off' });
    const bob = await UdpPeer.open();
    peers.push(bob);
    expect(edge.layer.udpFlow('127.0.0.1', bob.port).send('by-literal')).toBe(true);
    expect(edge.layer.udpFlow('localhost', bob.port).send('by-name')).toBe(true);
    await until(() => bob.received.length === 2);
    expect([...bob.received].sort()).toEqual(['by-literal', 'by-name']);
  });

  it('never throws for an unusable address or port', async () => {
    edge = await startTransport({ tcp: 'off', ws: 'off' });
    expect(edge.layer.udpFlow('999.1.1.1', 5060).send('x')).toBe(true);
    expect(edge.layer.udpFlow('127.0.0.1', 0).send('x')).toBe(false);
  });

  it('recognises IPv4 literals exactly as net.isIPv4 does', () => {
    const samples = ['127.0.0.1', '0.0.0.0', '255.255.255.255', '10.0.0.01', '256.1.1.1', '1.2.3', '1.2.3.4.5', '1..2.3',
      '1.2.3.4.', '.1.2.3.4', '01.2.3.4', '1.2.3.a', ' 1.2.3.4', '::1', 'localhost', '', '1234.1.1.1', '192.168.100.200'];
    for (const s of samples) expect(isIPv4Literal(s), s).toBe(isIPv4(s));
    const chars = '0123456789.2501';
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let n = 0; n < 20_000; n++) {
      let s = '';
      const len = 1 + rnd(16);
      for (let i = 0; i < len; i++) s += chars[rnd(chars.length)];
      expect(isIPv4Literal(s), s).toBe(isIPv4(s));
    }
  });
});
