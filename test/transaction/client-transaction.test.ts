// Client transaction stories (RFC 3261 §17.1): the edge sends, the far end answers or stays silent, over real sockets.
// bob is the far end (a UDP or TCP peer on 127.0.0.1 port 0); time moves only through the FakeClock.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { SipMessage } from '../../src/sip/types.ts';
import type { ClientTransactionHandle } from '../../src/transaction/client-transaction.ts';
import type { Flow } from '../../src/transport/flow.ts';
import { UdpPeer, until } from '../transport/peers.ts';
import { startStack, type Stack } from './stack.ts';

let stack: Stack | undefined;
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const c of closers.splice(0)) c();
  await stack?.close();
  stack = undefined;
});

/** Lets in-flight datagrams land, then checks nothing more arrived. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 30));
}

/** Milliseconds since the stack started (the wheels' origin). */
let origin = 0;
async function start(): Promise<Stack> {
  stack = await startStack();
  origin = stack.clock.now();
  return stack;
}
function advanceTo(t: number): void {
  stack!.advance(origin + t - stack!.clock.now());
}

async function udpBob(): Promise<UdpPeer> {
  const p = await UdpPeer.open();
  closers.push(() => p.close());
  return p;
}

/** A TCP far end: accepts one connection, records what arrives, can write back. */
class TcpBob {
  received = '';
  socket: net.Socket | undefined;
  private constructor(readonly server: net.Server) {
    server.on('connection', (s) => {
      this.socket = s;
      s.on('data', (d) => (this.received += d.toString('latin1')));
      s.on('error', () => undefined);
    });
  }
  static async open(): Promise<TcpBob> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const bob = new TcpBob(server);
    closers.push(() => {
      bob.socket?.destroy();
      server.close();
    });
    return bob;
  }
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }
  count(method: string): number {
    return this.received.split(`${method} sip:`).length - 1;
  }
}

/** Records what the TU hears. */
class Recorder {
  readonly responses: SipMessage[] = [];
  timeouts = 0;
  transportErrors = 0;
  readonly handlers = {
    onResponse: (res: SipMessage) => void this.responses.push(res),
    onTimeout: () => void this.timeouts++,
    onTransportError: () => void this.transportErrors++,
  };
  get statuses(): number[] {
    return this.responses.map((r) => r.status);
  }
}

interface Outgoing {
  method: string;
  branch: string;
  transport?: string;
  /** Extra header lines (a second Via, Route...). */
  headers?: string[];
}

/** A request as the edge would write it: our Via on top (sent-by = our listener), then any extra lines. */
function outgoing(o: Outgoing): Buffer {
  const ourPort = o.transport === 'TCP' ? stack!.addrs.tcp!.port : stack!.addrs.udp!.port;
  const lines = [
    `${o.method} sip:bob@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/${o.transport ?? 'UDP'} 127.0.0.1:${ourPort};branch=${o.branch};rport`,
    ...(o.headers ?? []),
    'Max-Forwards: 69',
    'From: <sip:alice@example.com>;tag=alicetag',
    'To: <sip:bob@example.com>',
    'Call-ID: call-ct@example.com',
    `CSeq: 7 ${o.method}`,
    'Content-Length: 0',
  ];
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

/** bob's answer to a request he received: its Vias, From, Call-ID and CSeq, a To with bob's tag. */
function answer(req: string, status: number, reason: string, toTag = 'bobtag'): string {
  const lines = req.split('\r\n');
  const keep = lines.filter((l) => /^(Via|From|Call-ID|CSeq):/i.test(l));
  const to = lines.find((l) => l.startsWith('To:'))!;
  return [`SIP/2.0 ${status} ${reason}`, ...keep, status > 100 ? `${to};tag=${toTag}` : to, 'Content-Length: 0', '', ''].join('\r\n');
}

function countOf(peer: UdpPeer, method: string): number {
  return peer.received.filter((m) => m.startsWith(method + ' ')).length;
}

describe('non-INVITE client transactions (§17.1.2)', () => {
  it('retransmits an unanswered OPTIONS at 500, 1000, 2000, 4000, 4000 ms... and times out once at Timer F', async () => {
    const s = await start();
    const bob = await udpBob();
    const tu = new Recorder();
    s.transactions.clients.send(outgoing({ method: 'OPTIONS', branch: 'z9hG4bKopt1' }), { method: 'OPTIONS', branch: 'z9hG4bKopt1', flow: s.transport.udpFlow('127.0.0.1', bob.port) }, tu.handlers);
    await until(() => bob.received.length === 1);
    // Timer E: T1, doubling up to T2, while no response arrives (fire times since the send).
    const fireTimes = [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500];
    for (const [i, t] of fireTimes.entries()) {
      advanceTo(t - 50);
      await settle();
      expect(bob.received.length).toBe(i + 1);
      advanceTo(t);
      await until(() => bob.received.length === i + 2);
    }
    expect(new Set(bob.received).size).toBe(1);
    advanceTo(31_950);
    expect(tu.timeouts).toBe(0);
    advanceTo(32_000);
    expect(tu.timeouts).toBe(1);
    expect(s.transactions.clients.size).toBe(0);
    advanceTo(80_000);
    await settle();
    expect(tu.timeouts).toBe(1);
    expect(bob.received.length).toBe(11);
    expect(tu.responses).toHaveLength(0);
  });

  it('keeps retransmitting every T2 after a provisional, delivers the final once and absorbs its retransmission for Timer K', async () => {
    const s = await start();
    const bob = await udpBob();
    const tu = new Recorder();
    s.transactions.clients.send(outgoing({ method: 'MESSAGE', branch: 'z9hG4bKmsg1' }), { method: 'MESSAGE', branch: 'z9hG4bKmsg1', flow: s.transport.udpFlow('127.0.0.1', bob.port) }, tu.handlers);
    await until(() => bob.received.length === 1);
    const req = bob.received[0];
    await bob.send(answer(req, 100, 'Trying'), s.addrs.udp!.port);
    await until(() => tu.responses.length === 1);
    // §17.1.2.2 Proceeding: the pending Timer E fires at 500, then every T2.
    for (const [i, t] of [500, 4500, 8500].entries()) {
      advanceTo(t - 50);
      await settle();
      expect(bob.received.length).toBe(i + 1);
      advanceTo(t);
      await until(() => bob.received.length === i + 2);
    }
    const ok = answer(req, 200, 'OK');
    await bob.send(ok, s.addrs.udp!.port);
    await until(() => tu.responses.length === 2);
    await bob.send(ok, s.addrs.udp!.port);
    await settle();
    expect(tu.statuses).toEqual([100, 200]);
    expect(s.tu.strayResponses).toHaveLength(0);
    advanceTo(20_000);
    await settle();
    expect(bob.received.length).toBe(4);
    // Timer K (T4) has run out: the same 200 now matches nothing and goes to the TU as a stray.
    expect(s.transactions.clients.size).toBe(0);
    await bob.send(ok, s.addrs.udp!.port);
    await until(() => s.tu.strayResponses.length === 1);
    expect(tu.statuses).toEqual([100, 200]);
    expect(tu.timeouts).toBe(0);
  });

  it('never retransmits over TCP, ends at the final response, and times out once at Timer F when unanswered', async () => {
    const s = await start();
    const bob = await TcpBob.open();
    const flow = await s.transport.connectTcp('127.0.0.1', bob.port);
    const quiet = new Recorder();
    s.transactions.clients.send(outgoing({ method: 'OPTIONS', branch: 'z9hG4bKtcp1', transport: 'TCP' }), { method: 'OPTIONS', branch: 'z9hG4bKtcp1', flow }, quiet.handlers);
    await until(() => bob.count('OPTIONS') === 1);
    advanceTo(31_950);
    await settle();
    expect(bob.count('OPTIONS')).toBe(1);
    expect(quiet.timeouts).toBe(0);
    advanceTo(32_000);
    expect(quiet.timeouts).toBe(1);

    const answered = new Recorder();
    s.transactions.clients.send(outgoing({ method: 'OPTIONS', branch: 'z9hG4bKtcp2', transport: 'TCP' }), { method: 'OPTIONS', branch: 'z9hG4bKtcp2', flow }, answered.handlers);
    await until(() => bob.count('OPTIONS') === 2);
    const second = bob.received.slice(bob.received.lastIndexOf('OPTIONS sip:'));
    bob.socket!.write(answer(second, 200, 'OK'));
    await until(() => answered.responses.length === 1);
    // Timer K is zero on reliable transports.
    expect(s.transactions.clients.size).toBe(0);
    advanceTo(100_000);
    expect(answered.timeouts).toBe(0);
    expect(quiet.timeouts).toBe(1);
  });
});

describe('INVITE client transactions (§17.1.1)', () => {
  it('retransmits an unanswered INVITE at T1 doubling without a T2 cap, and times out once at Timer B', async () => {
    const s = await start();
    const bob = await udpBob();
    const tu = new Recorder();
    s.transactions.clients.send(outgoing({ method: 'INVITE', branch: 'z9hG4bKinv1' }), { method: 'INVITE', branch: 'z9hG4bKinv1', flow: s.transport.udpFlow('127.0.0.1', bob.port) }, tu.handlers);
    await until(() => bob.received.length === 1);
    for (const [i, t] of [500, 1500, 3500, 7500, 15500, 31500].entries()) {
      advanceTo(t - 50);
      await settle();
      expect(bob.received.length).toBe(i + 1);
      advanceTo(t);
      await until(() => bob.received.length === i + 2);
    }
    advanceTo(31_950);
    expect(tu.timeouts).toBe(0);
    advanceTo(32_000);
    expect(tu.timeouts).toBe(1);
    advanceTo(100_000);
    await settle();
    expect(bob.received.length).toBe(7);
    expect(tu.timeouts).toBe(1);
  });

  it('stops retransmitting at a provisional and does not time out in Proceeding', async () => {
    const s = await start();
    const bob = await udpBob();
    const tu = new Recorder();
    const handle = s.transactions.clients.send(outgoing({ method: 'INVITE', branch: 'z9hG4bKinv2' }), { method: 'INVITE', branch: 'z9hG4bKinv2', flow: s.transport.udpFlow('127.0.0.1', bob.port) }, tu.handlers);
    await until(() => bob.received.length === 1);
    await bob.send(answer(bob.received[0], 180, 'Ringing'), s.addrs.udp!.port);
    await until(() => tu.responses.length === 1);
    advanceTo(60_000);
    await settle();
    expect(bob.received.length).toBe(1);
    expect(tu.timeouts).toBe(0);
    expect(s.transactions.clients.size).toBe(1);
    // The TU's own limit (Timer C) ends it.
    handle.cancelTimers();
    expect(s.transactions.clients.size).toBe(0);
    expect(handle.isCompleted).toBe(true);
  });

  it('ACKs a 486 with the response To tag, CSeq ACK, one Via with the same branch and the Route set, and absorbs the retransmitted 486', async () => {
    const s = await start();
    const bob = await udpBob();
    const tu = new Recorder();
    const invite = outgoing({
      method: 'INVITE',
      branch: 'z9hG4bKbusy',
      headers: ['Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKphone;rport=5062', 'Route: <sip:p1.example.com;lr>', 'Route: <sip:p2.example.com;lr>'],
    });
    s.transactions.clients.send(invite, { method: 'INVITE', branch: 'z9hG4bKbusy', flow: s.transport.udpFlow('127.0.0.1', bob.port) }, tu.handlers);
    await until(() => bob.received.length === 1);
    const busy = answer(bob.received[0], 486, 'Busy Here', 'bob486');
    await bob.send(busy, s.addrs.udp!.port);
    await until(() => countOf(bob, 'ACK') === 1);
    const ack = bob.received.find((m) => m.startsWith('ACK '))!;
    expect(ack).toBe(
      'ACK sip:bob@127.0.0.1 SIP/2.0\r\n' +
        `Via: SIP/2.0/UDP 127.0.0.1:${s.addrs.udp!.port};branch=z9hG4bKbusy;rport\r\n` +
        'Max-Forwards: 70\r\n' +
        'Route: <sip:p1.example.com;lr>\r\n' +
        'Route: <sip:p2.example.com;lr>\r\n' +
        'From: <sip:alice@example.com>;tag=alicetag\r\n' +
        'To: <sip:bob@example.com>;tag=bob486\r\n' +
        'Call-ID: call-ct@example.com\r\n' +
        'CSeq: 7 ACK\r\n' +
        'Content-Length: 0\r\n\r\n',
    );
    expect(tu.statuses).toEqual([486]);
    // §17.1.1.2 Completed: the retransmitted 486 gets the ACK again and is not passed up.
    await bob.send(busy, s.addrs.udp!.port);
    await until(() => countOf(bob, 'ACK') === 2);
    expect(bob.received.filter((m) => m.startsWith('ACK ')).every((m) => m === ack)).toBe(true);
    await settle();
    expect(tu.statuses).toEqual([486]);
    expect(s.tu.strayResponses).toHaveLength(0);
    // No INVITE retransmission after the final; Timer D (32 s) then ends the transaction.
    advanceTo(31_500);
    await settle();
    expect(countOf(bob, 'INVITE')).toBe(1);
    expect(s.transactions.clients.size).toBe(1);
    advanceTo(32_500);
    expect(s.transactions.clients.size).toBe(0);
    expect(tu.timeouts).toBe(0);
  });

  it('ends at a 2xx without ACKing it, and hands the 2xx retransmission to the TU as a stray', async () => {
    const s = await start();
    const bob = await udpBob();
    const tu = new Recorder();
    s.transactions.clients.send(outgoing({ method: 'INVITE', branch: 'z9hG4bKok' }), { method: 'INVITE', branch: 'z9hG4bKok', flow: s.transport.udpFlow('127.0.0.1', bob.port) }, tu.handlers);
    await until(() => bob.received.length === 1);
    const ok = answer(bob.received[0], 200, 'OK');
    await bob.send(ok, s.addrs.udp!.port);
    await until(() => tu.responses.length === 1);
    expect(s.transactions.clients.size).toBe(0);
    await bob.send(ok, s.addrs.udp!.port);
    await until(() => s.tu.strayResponses.length === 1);
    advanceTo(40_000);
    await settle();
    expect(countOf(bob, 'ACK')).toBe(0);
    expect(countOf(bob, 'INVITE')).toBe(1);
    expect(tu.statuses).toEqual([200]);
    expect(tu.timeouts).toBe(0);
  });

  it('over TCP: no INVITE retransmission, the ACK for a 603 goes on the connection and the transaction ends at once', async () => {
    const s = await start();
    const bob = await TcpBob.open();
    const flow: Flow = await s.transport.connectTcp('127.0.0.1', bob.port);
    const tu = new Recorder();
    s.transactions.clients.send(outgoing({ method: 'INVITE', branch: 'z9hG4bKtcpinv', transport: 'TCP' }), { method: 'INVITE', branch: 'z9hG4bKtcpinv', flow }, tu.handlers);
    await until(() => bob.count('INVITE') === 1);
    advanceTo(20_000);
    await settle();
    expect(bob.count('INVITE')).toBe(1);
    bob.socket!.write(answer(bob.received, 603, 'Decline'));
    await until(() => bob.count('ACK') === 1);
    expect(bob.received).toContain('\r\nCSeq: 7 ACK\r\n');
    expect(tu.statuses).toEqual([603]);
    // Timer D is zero on reliable transports.
    expect(s.transactions.clients.size).toBe(0);
  });
});

describe('transport errors', () => {
  it('reports onTransportError once, after send returns, when the TCP connection is already closed', async () => {
    const s = await start();
    const bob = await TcpBob.open();
    const flow = await s.transport.connectTcp('127.0.0.1', bob.port);
    await until(() => bob.socket !== undefined);
    bob.socket!.destroy();
    await until(() => !flow.isOpen);
    const tu = new Recorder();
    const handle = s.transactions.clients.send(outgoing({ method: 'OPTIONS', branch: 'z9hG4bKgone', transport: 'TCP' }), { method: 'OPTIONS', branch: 'z9hG4bKgone', flow }, tu.handlers);
    expect(tu.transportErrors).toBe(0);
    await settle();
    expect(tu.transportErrors).toBe(1);
    expect(handle.isCompleted).toBe(true);
    advanceTo(40_000);
    expect(tu.timeouts).toBe(0);
    expect(s.transactions.clients.size).toBe(0);
  });
});

describe('response matching (§17.1.3)', () => {
  it('passes responses with another branch, another CSeq method or another sent-by to the TU as strays', async () => {
    const s = await start();
    const bob = await udpBob();
    const tu = new Recorder();
    const handle: ClientTransactionHandle = s.transactions.clients.send(outgoing({ method: 'INVITE', branch: 'z9hG4bKmatch' }), { method: 'INVITE', branch: 'z9hG4bKmatch', flow: s.transport.udpFlow('127.0.0.1', bob.port) }, tu.handlers);
    await until(() => bob.received.length === 1);
    const req = bob.received[0];
    const ours = answer(req, 486, 'Busy Here');
    await bob.send(ours.replace('branch=z9hG4bKmatch', 'branch=z9hG4bKother'), s.addrs.udp!.port);
    await bob.send(ours.replace('CSeq: 7 INVITE', 'CSeq: 7 CANCEL'), s.addrs.udp!.port);
    await bob.send(ours.replace(`127.0.0.1:${s.addrs.udp!.port};branch`, '127.0.0.9:5060;branch'), s.addrs.udp!.port);
    await until(() => s.tu.strayResponses.length === 3);
    await settle();
    expect(tu.responses).toHaveLength(0);
    expect(countOf(bob, 'ACK')).toBe(0);
    expect(handle.isCompleted).toBe(false);
    await bob.send(ours, s.addrs.udp!.port);
    await until(() => tu.responses.length === 1);
    expect(handle.isCompleted).toBe(true);
    expect(s.tu.strayResponses).toHaveLength(3);
  });
});
