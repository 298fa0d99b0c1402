// UDP transport stories: a phone's datagram reaches the handler with a flow that leads back to the phone.
// Real sockets on 127.0.0.1, port 0; the handler records what it gets.
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { nativeUdp, nativeUdpError } from '../../src/transport/native-udp.ts';
import { ipv6Name } from '../../src/transport/udp.ts';
import { metricValue, register, startTransport as startWith, until, UdpPeer, type StartedTransport } from './peers.ts';

let edge: StartedTransport | undefined;
const peers: UdpPeer[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await edge?.layer.close();
  edge = undefined;
});

async function phone(): Promise<UdpPeer> {
  const p = await UdpPeer.open();
  peers.push(p);
  return p;
}

it('the native UDP I/O is built and loaded (the test setup builds it with --require)', () => {
  expect(nativeUdpError).toBeUndefined();
  expect(nativeUdp).toBeDefined();
});

// Every story runs on both ways of moving datagrams: the batched native I/O (the default) and dgram (the fallback).
describe.each(['native', 'dgram'] as const)('UDP transport (%s I/O)', (io) => {
  const startTransport = (overrides: Parameters<typeof startWith>[0] = {}) => startWith(overrides, undefined, io);

  it('reports the real port when configured with port 0, and skips listeners set to "off"', async () => {
    edge = await startTransport({ tcp: 'off', ws: 'off' });
    expect(edge.addrs.udp?.port).toBeGreaterThan(0);
    expect(edge.addrs.tcp).toBeUndefined();
    expect(edge.addrs.ws).toBeUndefined();
  });

  it('delivers a datagram with a flow that answers the sender', async () => {
    edge = await startTransport();
    edge.handler.echo = 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n';
    const alice = await phone();
    const msg = register('z9hG4bKudp1');
    await alice.send(msg, edge.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    expect(edge.handler.messages.map((m) => m.text)).toEqual([msg]);
    const flow = edge.handler.messages[0].flow;
    expect(flow).toMatchObject({ transport: 'udp', isReliable: false, isOpen: true, remoteAddress: '127.0.0.1', remotePort: alice.port });
    expect(flow.id).toBe(`udp:${edge.addrs.udp!.port}:127.0.0.1:${alice.port}`);
    expect(alice.received[0]).toBe('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
  });

  it('finds a UDP flow again by its id and sends from the listening socket', async () => {
    edge = await startTransport();
    const bob = await phone();
    const flow = edge.layer.getFlow(`udp:${edge.addrs.udp!.port}:127.0.0.1:${bob.port}`);
    expect(flow?.send('OPTIONS sip:bob SIP/2.0\r\n\r\n')).toBe(true);
    expect(edge.layer.udpFlow('127.0.0.1', bob.port).send('second')).toBe(true);
    await until(() => bob.received.length === 2);
    expect(edge.layer.getFlow(`udp:1:127.0.0.1:${bob.port}`)).toBeUndefined();
  });

  it('ignores CRLF and whitespace keep-alive datagrams', async () => {
    edge = await startTransport();
    const alice = await phone();
    for (const ka of ['\r\n\r\n', '\r\n', ' \t\r\n']) await alice.send(ka, edge.addrs.udp!.port);
    await alice.send(register('z9hG4bKafter'), edge.addrs.udp!.port);
    await until(() => edge!.handler.messages.length === 1);
    expect(edge.handler.messages[0].text).toContain('z9hG4bKafter');
  });

  it('drops a datagram larger than maxMessageBytes and counts it', async () => {
    edge = await startTransport({ maxMessageBytes: 1024 });
    const alice = await phone();
    await alice.send(register('z9hG4bKbig', 'x'.repeat(2000)), edge.addrs.udp!.port);
    await alice.send(register('z9hG4bKsmall'), edge.addrs.udp!.port);
    await until(() => edge!.handler.messages.length === 1);
    expect(edge.handler.messages[0].text).toContain('z9hG4bKsmall');
    expect(await metricValue(edge.metrics.drops, { reason: 'oversize' })).toBe(1);
  });

  it('rejects listen() when the port is taken', async () => {
    edge = await startTransport({ tcp: 'off', ws: 'off' });
    await expect(startTransport({ udp: `127.0.0.1:${edge.addrs.udp!.port}`, tcp: 'off', ws: 'off' })).rejects.toThrow(/EADDRINUSE/);
  });

  it('answers a burst of 150 datagrams, every one, in the order they came', async () => {
    edge = await startTransport({ tcp: 'off', ws: 'off' });
    const e = edge!;
    // The handler answers each message with its own branch, so order and completeness show on the phone's side.
    e.handler.onMessage = (data, flow) => {
      e.handler.messages.push({ text: data.toString('latin1'), flow });
      flow.send(`SIP/2.0 200 OK\r\nX-Branch: ${/branch=([^\r;]+)/.exec(data.toString('latin1'))![1]}\r\n\r\n`);
    };
    const alice = await phone();
    const branches = Array.from({ length: 150 }, (_, i) => `z9hG4bKburst${i}`);
    for (const b of branches) alice.socket.send(register(b), e.addrs.udp!.port, '127.0.0.1');
    await until(() => alice.received.length === 150, 5000);
    expect(alice.received.map((r) => /X-Branch: (\S+)/.exec(r)![1])).toEqual(branches);
    expect(e.handler.messages.map((m) => m.flow.remotePort)).toEqual(branches.map(() => alice.port));
  });

  it('listens on a host name (resolved to IPv4, as dgram does) and names a bad one in the error', async () => {
    edge = await startTransport({ udp: 'localhost:0', tcp: 'off', ws: 'off' });
    expect(edge.addrs.udp).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
    edge.handler.echo = 'SIP/2.0 200 OK\r\n\r\n';
    const alice = await phone();
    await alice.send(register('z9hG4bKname'), edge.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    await expect(startTransport({ udp: 'no-such-host.invalid:0', tcp: 'off', ws: 'off' })).rejects.toThrow(/ENOTFOUND|EAI_AGAIN/);
  });

  it('sends to a host name after resolving it', async () => {
    edge = await startTransport({ tcp: 'off', ws: 'off' });
    const bob = await phone();
    expect(edge.layer.udpFlow('localhost', bob.port).send('to a name')).toBe(true);
    await until(() => bob.received.length === 1);
    expect(bob.received[0]).toBe('to a name');
  });

  it('on an IPv6 listener names an IPv6 phone as dgram does, and a dual-stack one answers an IPv4 phone', async () => {
    edge = await startTransport({ udp: '[::1]:0', tcp: 'off', ws: 'off' });
    const v6 = dgram.createSocket('udp6');
    await new Promise<void>((r) => v6.bind(0, '::1', () => r()));
    const got: string[] = [];
    v6.on('message', (m) => got.push(m.toString()));
    edge.handler.echo = 'SIP/2.0 200 OK\r\n\r\n';
    v6.send(register('z9hG4bKv6'), edge.addrs.udp!.port, '::1');
    await until(() => got.length === 1);
    expect(edge!.handler.messages[0].flow.remoteAddress).toBe('::1');
    v6.close();
    await edge.layer.close();

    edge = await startTransport({ udp: '[::]:0', tcp: 'off', ws: 'off' });
    edge.handler.echo = 'SIP/2.0 200 OK\r\n\r\n';
    const alice = await phone();
    await alice.send(register('z9hG4bKmapped'), edge.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    expect(edge!.handler.messages[0].flow.remoteAddress).toBe('::ffff:127.0.0.1');
  });
});

describe('native UDP I/O: what is not sent is counted, never thrown', () => {
  it('drops a datagram the kernel refuses (too big for UDP) and counts it, while the rest of the turn goes out', async () => {
    edge = await startWith({ tcp: 'off', ws: 'off' }, undefined, 'native');
    const bob = await phone();
    const flow = edge.layer.udpFlow('127.0.0.1', bob.port);
    flow.send('before');
    flow.send(Buffer.alloc(70_000)); // over the 65,507 bytes an IPv4 UDP datagram can carry: EMSGSIZE
    flow.send('after');
    await until(() => bob.received.length === 2);
    expect(bob.received).toEqual(['before', 'after']);
    expect(await metricValue(edge.metrics.udpSendDrops, { reason: 'refused' })).toBe(1);
    expect(await metricValue(edge.metrics.udpSendDrops, { reason: 'no-room' })).toBe(0);
  });

  it('counts entries that are not datagrams as dropped and sends the good ones of the same batch', async () => {
    const native = nativeUdp!;
    const [fd, family] = native.open('127.0.0.1', 0, 0, 0);
    try {
      const bob = await phone();
      const drops = new Int32Array(3);
      const queue = [
        'one', bob.port, '127.0.0.1',
        42, bob.port, '127.0.0.1', // data neither a Buffer nor a string
        'x', 0, '127.0.0.1', // port 0
        'x', bob.port, 'not-an-address',
        'x'.repeat(70_000), bob.port, '127.0.0.1', // a string over the 64 KiB scratch slot
        Buffer.from('two'), bob.port, '127.0.0.1',
      ];
      expect(native.send(fd, family, queue, queue.length / 3, drops)).toBe(4);
      expect([...drops]).toEqual([0, 0, 4]);
      await until(() => bob.received.length === 2);
      expect(bob.received).toEqual(['one', 'two']);
    } finally {
      native.close(fd);
    }
  });
});

describe('native UDP I/O: the socket is read ahead of handling, one source in turn', () => {
  it("a phone's datagram is handled among the first while a busy address's backlog waits, and every datagram arrives", async () => {
    edge = await startWith({ tcp: 'off', ws: 'off' }, undefined, 'native');
    const port = edge.addrs.udp!.port;
    const busy = await phone();
    const quiet = dgram.createSocket('udp4');
    await new Promise<void>((r) => quiet.bind(0, '127.0.0.2', () => r()));
    try {
      // All in the kernel's receive buffer before the edge's next read: 300 from one address, then one from another.
      const sent = Array.from({ length: 300 }, (_, i) => busy.send(register(`z9hG4bKbusy${i}`), port));
      sent.push(new Promise<void>((resolve, reject) => quiet.send(register('z9hG4bKquiet'), port, '127.0.0.1', (e) => (e ? reject(e) : resolve()))));
      await Promise.all(sent);
      await until(() => edge!.handler.messages.length === 301);
      const texts = edge.handler.messages.map((m) => m.text);
      // Read in arrival order (one queue), the phone's would have been the 301st.
      expect(texts.findIndex((t) => t.includes('z9hG4bKquiet'))).toBeLessThan(20);
      const busyOrder = texts.filter((t) => t.includes('z9hG4bKbusy')).map((t) => Number(/z9hG4bKbusy(\d+)/.exec(t)![1]));
      expect(busyOrder).toEqual(Array.from({ length: 300 }, (_, i) => i));
    } finally {
      quiet.close();
    }
  });
});

describe('ipv6Name: a source address as text, as inet_ntop writes it', () => {
  const bytes = (hex: string) => Buffer.from(hex.replace(/[^0-9a-f]/g, ''), 'hex');
  it.each([
    ['0000 0000 0000 0000 0000 0000 0000 0001', '::1'],
    ['0000 0000 0000 0000 0000 0000 0000 0000', '::'],
    ['2001 0db8 0000 0000 0000 0000 0000 0001', '2001:db8::1'],
    ['fe80 0000 0000 0000 0000 0000 0001 0002', 'fe80::1:2'],
    ['0000 0000 0000 0000 0000 ffff 7f00 0001', '::ffff:127.0.0.1'],
    ['0000 0000 0000 0000 0000 0000 c000 0201', '::192.0.2.1'],
    ['0001 0000 0000 0001 0000 0000 0000 0001', '1:0:0:1::1'],
    ['0001 0000 0000 0001 0000 0000 0001 0001', '1::1:0:0:1:1'],
    ['2001 0db8 0000 0001 0001 0001 0001 0001', '2001:db8:0:1:1:1:1:1'],
    ['2001 0db8 0000 0000 0001 0000 0000 0000', '2001:db8:0:0:1::'],
  ])('%s -> %s', (hex, text) => {
    const b = new Uint8Array(20);
    b.set(bytes(hex), 4);
    expect(ipv6Name(b, 4)).toBe(text);
  });
});

describe('STUN keep-alives on the SIP UDP port (RFC 5626 §4.4.2)', () => {
  it('answers a Binding request with the XOR-mapped address and port of the phone', async () => {
    edge = await startWith();
    const alice = await phone();
    const txId = Buffer.from('0102030405060708090a0b0c', 'hex');
    const req = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), txId]);
    const replies: Buffer[] = [];
    alice.socket.on('message', (m) => replies.push(m));
    await alice.send(req, edge.addrs.udp!.port);
    await until(() => replies.length === 1);
    const res = replies[0];
    expect(res.readUInt16BE(0)).toBe(0x0101);
    expect(res.subarray(8, 20)).toEqual(txId);
    expect(res.readUInt16BE(20)).toBe(0x0020);
    expect(res.readUInt16BE(26) ^ 0x2112).toBe(alice.port);
    const ip = [0, 1, 2, 3].map((i) => res[28 + i] ^ res[4 + i]).join('.');
    expect(ip).toBe('127.0.0.1');
    expect(edge.handler.messages).toHaveLength(0);
  });
});
