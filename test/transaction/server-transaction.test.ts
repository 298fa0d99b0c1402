// Server transaction stories (RFC 3261 §17.2): retransmissions absorbed, Timer J/G/H/I, ACK, drop, over real sockets.
// alice is a UDP phone, bob a TCP phone; time moves only through the FakeClock.
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, metricValue, TcpPeer, UdpPeer, until } from '../transport/peers.ts';
import { request, startStack, statusLine, type Stack } from './stack.ts';

let stack: Stack | undefined;
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const c of closers.splice(0)) c();
  await stack?.close();
  stack = undefined;
});

async function udpPhone(): Promise<UdpPeer> {
  const p = await UdpPeer.open();
  closers.push(() => p.close());
  return p;
}

async function tcpPhone(): Promise<TcpPeer> {
  const p = await TcpPeer.open(stack!.addrs.tcp!.port);
  closers.push(() => p.close());
  return p;
}

/** Lets in-flight datagrams land, then checks nothing more arrived. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 30));
}

describe('a REGISTER without credentials: stateless UAS (§8.2.7)', () => {
  it('answers each copy afresh with the same To tag, and keeps no transaction', async () => {
    stack = await startStack();
    let n = 0;
    stack.tu.answer = (tx) => {
      tx.respond(100, 'Trying');
      tx.respond(401, 'Unauthorized', { headers: [`WWW-Authenticate: Digest realm="example.com", nonce="n${++n}"`] });
    };
    const alice = await udpPhone();
    const reg = request({ branch: 'z9hG4bKnocred', omit: ['authorization'] });
    await alice.send(reg, stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    await alice.send(reg, stack.addrs.udp!.port);
    await until(() => alice.received.length === 2);
    // §8.2.7: no provisional; a retransmission is processed again (a fresh challenge), with the same To tag.
    expect(alice.received.map(statusLine)).toEqual(['SIP/2.0 401 Unauthorized', 'SIP/2.0 401 Unauthorized']);
    expect(alice.received[0]).toContain('nonce="n1"');
    expect(alice.received[1]).toContain('nonce="n2"');
    const toLine = (raw: string) => raw.split('\r\n').find((l) => l.startsWith('To:'));
    expect(toLine(alice.received[0])).toMatch(/;tag=[\w.-]+$/);
    expect(toLine(alice.received[1])).toBe(toLine(alice.received[0]));
    expect(stack.tu.requests).toHaveLength(2);
    expect(stack.transactions.size).toBe(0);
    expect(await metricValue(stack.metrics.retransmissions)).toBe(0);
    // Another request gets another tag.
    await alice.send(request({ branch: 'z9hG4bKnocred2', cseq: 2, omit: ['authorization'] }), stack.addrs.udp!.port);
    await until(() => alice.received.length === 3);
    expect(toLine(alice.received[2])).not.toBe(toLine(alice.received[0]));
  });

  it('keeps silent to a dropped one and its copies', async () => {
    stack = await startStack();
    stack.tu.answer = (tx) => tx.drop();
    const scanner = await udpPhone();
    const reg = request({ branch: 'z9hG4bKnocredscan', omit: ['authorization'] });
    for (let i = 0; i < 3; i++) await scanner.send(reg, stack.addrs.udp!.port);
    await until(() => stack!.tu.requests.length === 3);
    await settle();
    expect(scanner.received).toHaveLength(0);
    expect(stack.transactions.size).toBe(0);
  });
});

describe('non-INVITE server transactions (§17.2.2)', () => {
  it('answers a retransmitted REGISTER with the identical response bytes, and the registrar sees it once', async () => {
    stack = await startStack();
    const alice = await udpPhone();
    const reg = request({ branch: 'z9hG4bKreg1' });
    await alice.send(reg, stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    await alice.send(reg, stack.addrs.udp!.port);
    await until(() => alice.received.length === 2);
    expect(alice.received[1]).toBe(alice.received[0]);
    expect(statusLine(alice.received[0])).toBe('SIP/2.0 200 OK');
    expect(stack.tu.requests).toHaveLength(1);
    expect(await metricValue(stack.metrics.retransmissions)).toBe(1);
  });

  it('adds a To tag and the Server header, and answers from the source address and port (rport)', async () => {
    stack = await startStack();
    const alice = await udpPhone();
    await alice.send(request({ branch: 'z9hG4bKhdr' }), stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    const res = alice.received[0];
    expect(res).toMatch(/\r\nTo: <sip:1001@example.com>;tag=[\w-]+\r\n/);
    expect(res).toContain('\r\nServer: sipedge-test\r\n');
    expect(res).toContain(`;rport=${alice.port};received=127.0.0.1`);
  });

  it('passes a retransmission to the registrar again once Timer J (64*T1) has expired', async () => {
    stack = await startStack();
    const alice = await udpPhone();
    const reg = request({ branch: 'z9hG4bKj' });
    await alice.send(reg, stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    stack.advance(31_000);
    await alice.send(reg, stack.addrs.udp!.port);
    await until(() => alice.received.length === 2);
    expect(stack.tu.requests).toHaveLength(1);
    stack.advance(1_600);
    expect(stack.transactions.size).toBe(0);
    await alice.send(reg, stack.addrs.udp!.port);
    await until(() => stack!.tu.requests.length === 2);
  });

  it('ends the transaction at the final response over TCP (Timer J is zero on reliable transports)', async () => {
    stack = await startStack();
    const bob = await tcpPhone();
    await bob.write(request({ branch: 'z9hG4bKtcp', transport: 'TCP' }));
    await until(() => bob.received.includes('200 OK'));
    expect(stack.transactions.size).toBe(0);
  });

  it('resends the last provisional response to a retransmission while the registrar is still working', async () => {
    stack = await startStack();
    stack.tu.answer = (tx) => tx.respond(100, 'Trying');
    const alice = await udpPhone();
    const opt = request({ method: 'OPTIONS', branch: 'z9hG4bKprov' });
    await alice.send(opt, stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    await alice.send(opt, stack.addrs.udp!.port);
    await until(() => alice.received.length === 2);
    expect(alice.received.map(statusLine)).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 100 Trying']);
    stack.tu.requests[0].respond(200, 'OK');
    await until(() => alice.received.length === 3);
    expect(statusLine(alice.received[2])).toBe('SIP/2.0 200 OK');
    expect(stack.tu.requests).toHaveLength(1);
  });

  it('discards a retransmission that arrives before any response (Trying)', async () => {
    stack = await startStack();
    stack.tu.answer = () => undefined;
    const alice = await udpPhone();
    const reg = request({ branch: 'z9hG4bKtrying' });
    await alice.send(reg, stack.addrs.udp!.port);
    await alice.send(reg, stack.addrs.udp!.port);
    await eventually(async () => (await metricValue(stack!.metrics.retransmissions)) === 1);
    await settle();
    expect(alice.received).toHaveLength(0);
    expect(stack.tu.requests).toHaveLength(1);
  });

  it('keeps silent to the retransmissions of a dropped request', async () => {
    stack = await startStack();
    stack.tu.answer = (tx) => tx.drop();
    const scanner = await udpPhone();
    const reg = request({ branch: 'z9hG4bKscan' });
    for (let i = 0; i < 3; i++) await scanner.send(reg, stack.addrs.udp!.port);
    await until(() => stack!.tu.requests.length === 1);
    await settle();
    expect(scanner.received).toHaveLength(0);
    expect(stack.tu.requests).toHaveLength(1);
    expect(stack.tu.requests[0].isCompleted).toBe(true);
  });

  it('forgets a request the registrar never answers, and still sends a late answer', async () => {
    stack = await startStack();
    stack.tu.answer = () => undefined;
    const alice = await udpPhone();
    await alice.send(request({ branch: 'z9hG4bKlate' }), stack.addrs.udp!.port);
    await until(() => stack!.tu.requests.length === 1);
    stack.advance(33_000);
    expect(stack.transactions.size).toBe(0);
    stack.tu.requests[0].respond(503, 'Service Unavailable');
    await until(() => alice.received.length === 1);
    expect(statusLine(alice.received[0])).toBe('SIP/2.0 503 Service Unavailable');
  });

  it('ignores responses after the final one', async () => {
    stack = await startStack();
    const alice = await udpPhone();
    await alice.send(request({ branch: 'z9hG4bKtwice' }), stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    const tx = stack.tu.requests[0];
    expect(tx.isCompleted).toBe(true);
    tx.respond(500, 'Server Internal Error');
    tx.drop();
    await settle();
    expect(alice.received).toHaveLength(1);
  });

  it('answers 500 when the TU throws, and counts an internal error', async () => {
    stack = await startStack();
    stack.tu.answer = () => {
      throw new Error('registrar bug');
    };
    const alice = await udpPhone();
    await alice.send(request({ branch: 'z9hG4bKbug' }), stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    expect(statusLine(alice.received[0])).toBe('SIP/2.0 500 Server Internal Error');
    expect(await metricValue(stack.metrics.drops, { reason: 'internal-error' })).toBe(1);
  });

  it('matches RFC 2543 requests without the magic cookie by Request-URI, From tag, Call-ID, CSeq and Via', async () => {
    stack = await startStack();
    const alice = await udpPhone();
    const old = request({ branch: 'oldstyle1' });
    await alice.send(old, stack.addrs.udp!.port);
    await alice.send(old, stack.addrs.udp!.port);
    await alice.send(request({ branch: 'oldstyle1', cseq: 2 }), stack.addrs.udp!.port);
    await until(() => alice.received.length === 3);
    expect(stack.tu.requests).toHaveLength(2);
  });
});

describe('INVITE server transactions (§17.2.1, RFC 6026)', () => {
  it('retransmits a non-2xx final response on UDP with Timer G until the ACK, which it absorbs', async () => {
    stack = await startStack();
    stack.tu.answer = (tx) => tx.respond(486, 'Busy Here', { toTag: 'busy1' });
    const alice = await udpPhone();
    await alice.send(request({ method: 'INVITE', branch: 'z9hG4bKinv1' }), stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    stack.advance(500); // Timer G = T1
    await until(() => alice.received.length === 2);
    stack.advance(1000); // 2*T1
    await until(() => alice.received.length === 3);
    expect(new Set(alice.received).size).toBe(1);
    expect(statusLine(alice.received[0])).toBe('SIP/2.0 486 Busy Here');
    await alice.send(request({ method: 'ACK', branch: 'z9hG4bKinv1', cseqMethod: 'ACK', toTag: 'busy1' }), stack.addrs.udp!.port);
    await eventually(async () => (await metricValue(stack!.metrics.sipRequests, { method: 'ACK' })) === 1);
    stack.advance(4_000);
    await settle();
    expect(alice.received).toHaveLength(3);
    expect(stack.tu.strayAcks).toHaveLength(0);
    expect(stack.tu.requests).toHaveLength(1);
    stack.advance(1_100); // Timer I = T4
    expect(stack.transactions.size).toBe(0);
  });

  it('answers a retransmitted INVITE in Completed with the final response again', async () => {
    stack = await startStack();
    stack.tu.answer = (tx) => tx.respond(404, 'Not Found');
    const alice = await udpPhone();
    const inv = request({ method: 'INVITE', branch: 'z9hG4bKinv2' });
    await alice.send(inv, stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    await alice.send(inv, stack.addrs.udp!.port);
    await until(() => alice.received.length === 2);
    expect(alice.received[1]).toBe(alice.received[0]);
    expect(stack.tu.requests).toHaveLength(1);
  });

  it('gives up retransmitting after Timer H (64*T1) when no ACK comes', async () => {
    stack = await startStack();
    stack.tu.answer = (tx) => tx.respond(480, 'Temporarily Unavailable');
    const alice = await udpPhone();
    await alice.send(request({ method: 'INVITE', branch: 'z9hG4bKnoack' }), stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    stack.advance(33_000);
    // G fires at 0.5, 1.5, 3.5, 7.5, then every T2 = 4 s: 11.5 ... 31.5 -> 10 retransmissions.
    await until(() => alice.received.length === 11);
    expect(stack.transactions.size).toBe(0);
    stack.advance(10_000);
    await settle();
    expect(alice.received).toHaveLength(11);
  });

  it('ends at its own challenge to an INVITE without credentials: no 407 resent, a copy challenged afresh, the ACK to the TU', async () => {
    stack = await startStack();
    let n = 0;
    stack.tu.answer = (tx) => tx.respond(407, 'Proxy Authentication Required', { headers: [`Proxy-Authenticate: Digest realm="example.com", nonce="n${++n}"`] });
    const alice = await udpPhone();
    const inv = request({ method: 'INVITE', branch: 'z9hG4bKflood' });
    await alice.send(inv, stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    expect(statusLine(alice.received[0])).toBe('SIP/2.0 407 Proxy Authentication Required');
    // No transaction is held for Timer H, and Timer G resends nothing (one 407 per INVITE, not eleven).
    expect(stack.transactions.size).toBe(0);
    stack.advance(33_000);
    await settle();
    expect(alice.received).toHaveLength(1);
    // A copy (the 407 was lost) is challenged again, with a fresh nonce.
    await alice.send(inv, stack.addrs.udp!.port);
    await until(() => alice.received.length === 2);
    expect(alice.received[1]).toContain('nonce="n2"');
    expect(stack.tu.requests).toHaveLength(2);
    await alice.send(request({ method: 'ACK', branch: 'z9hG4bKflood', cseqMethod: 'ACK', toTag: 'x' }), stack.addrs.udp!.port);
    await until(() => stack!.tu.strayAcks.length === 1);
  });

  it('keeps the transaction of a challenge to an INVITE that carried credentials (Timer G resends it until the ACK)', async () => {
    stack = await startStack();
    stack.tu.answer = (tx) => tx.respond(407, 'Proxy Authentication Required', { toTag: 'ch1' });
    const alice = await udpPhone();
    const headers = ['Proxy-Authorization: Digest username="1001", realm="example.com", nonce="old", uri="sip:example.com", response="00"'];
    await alice.send(request({ method: 'INVITE', branch: 'z9hG4bKcred', headers }), stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    expect(stack.transactions.size).toBe(1);
    stack.advance(500); // Timer G = T1
    await until(() => alice.received.length === 2);
    expect(alice.received[1]).toBe(alice.received[0]);
  });

  it('does not retransmit a non-2xx final response over TCP, and ends at the ACK', async () => {
    stack = await startStack();
    stack.tu.answer = (tx) => tx.respond(486, 'Busy Here', { toTag: 'b2' });
    const bob = await tcpPhone();
    await bob.write(request({ method: 'INVITE', branch: 'z9hG4bKtcpinv', transport: 'TCP' }));
    await until(() => bob.received.includes('486'));
    const first = bob.received;
    stack.advance(5_000);
    await settle();
    expect(bob.received).toBe(first);
    await bob.write(request({ method: 'ACK', branch: 'z9hG4bKtcpinv', transport: 'TCP', cseqMethod: 'ACK', toTag: 'b2' }));
    await until(() => stack!.transactions.size === 0);
    expect(stack.tu.strayAcks).toHaveLength(0);
  });

  it('after a 2xx absorbs INVITE retransmissions and passes the ACK to the TU', async () => {
    stack = await startStack();
    stack.tu.answer = (tx) => tx.respond(200, 'OK', { toTag: 'ok1' });
    const alice = await udpPhone();
    const inv = request({ method: 'INVITE', branch: 'z9hG4bKinv200' });
    await alice.send(inv, stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    await alice.send(inv, stack.addrs.udp!.port);
    await alice.send(request({ method: 'ACK', branch: 'z9hG4bKack200', cseqMethod: 'ACK', toTag: 'ok1' }), stack.addrs.udp!.port);
    await until(() => stack!.tu.strayAcks.length === 1);
    expect(alice.received).toHaveLength(1);
    expect(stack.tu.requests).toHaveLength(1);
    stack.advance(33_000); // Timer L
    expect(stack.transactions.size).toBe(0);
  });

  it('finds the INVITE a CANCEL refers to while it is unanswered', async () => {
    stack = await startStack();
    stack.tu.answer = (tx) => {
      if (tx.request.method === 'INVITE') tx.respond(180, 'Ringing', { toTag: 'r1' });
      else {
        const invite = stack!.transactions.matchInvite(tx.request);
        tx.respond(invite ? 200 : 481, invite ? 'OK' : 'Call/Transaction Does Not Exist');
        invite?.respond(487, 'Request Terminated');
      }
    };
    const alice = await udpPhone();
    await alice.send(request({ method: 'INVITE', branch: 'z9hG4bKcancelme' }), stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    await alice.send(request({ method: 'CANCEL', branch: 'z9hG4bKcancelme' }), stack.addrs.udp!.port);
    await until(() => alice.received.length === 3);
    expect(alice.received.map(statusLine).sort()).toEqual(['SIP/2.0 180 Ringing', 'SIP/2.0 200 OK', 'SIP/2.0 487 Request Terminated']);
  });
});
