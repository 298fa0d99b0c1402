// Entry point stories: malformed requests get 400 with the reason, junk is counted and dropped, nothing kills the process.
// Real UDP/TCP sockets into TransportLayer -> TransactionLayer, a recording TU.
import { randomBytes } from 'node:crypto';
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

const parseErrors = (outcome: string): Promise<number> => metricValue(stack!.metrics.parseErrors, { outcome });

describe('malformed messages at the transaction boundary', () => {
  it('answers a request without Call-ID with 400 and the reason, without bothering the TU', async () => {
    stack = await startStack();
    const alice = await udpPhone();
    await alice.send(request({ branch: 'z9hG4bKnocid', omit: ['Call-ID'] }), stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    expect(statusLine(alice.received[0])).toBe('SIP/2.0 400 Call-ID is missing');
    expect(alice.received[0]).toContain('Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKnocid;rport=');
    expect(alice.received[0]).not.toContain('Warning:');
    expect(stack.tu.requests).toHaveLength(0);
    expect(await parseErrors('answered')).toBe(1);
  });

  it('answers a CSeq whose method differs from the request method with 400', async () => {
    stack = await startStack();
    const alice = await udpPhone();
    await alice.send(request({ branch: 'z9hG4bKmismatch', cseqMethod: 'INVITE' }), stack.addrs.udp!.port);
    await until(() => alice.received.length === 1);
    expect(statusLine(alice.received[0])).toBe('SIP/2.0 400 CSeq method does not match the request method');
  });

  it('never answers a malformed ACK, only counts it', async () => {
    stack = await startStack();
    const alice = await udpPhone();
    await alice.send(request({ method: 'ACK', branch: 'z9hG4bKbadack', omit: ['From'] }), stack.addrs.udp!.port);
    await eventually(async () => (await parseErrors('dropped')) === 1);
    expect(alice.received).toHaveLength(0);
  });

  it('counts unaddressable junk as dropped and sends nothing back', async () => {
    stack = await startStack();
    const alice = await udpPhone();
    await alice.send('HELLO THERE\r\n\r\n', stack.addrs.udp!.port);
    await alice.send(request({ branch: 'z9hG4bKnovia', omit: ['Via'] }), stack.addrs.udp!.port);
    await eventually(async () => (await parseErrors('dropped')) === 2);
    await new Promise((r) => setTimeout(r, 30));
    expect(alice.received).toHaveLength(0);
  });

  it('survives a burst of garbage and still answers the next REGISTER', async () => {
    stack = await startStack();
    const attacker = await udpPhone();
    const valid = Buffer.from(request({ branch: 'z9hG4bKvalid' }), 'latin1');
    for (let i = 0; i < 500; i++) {
      let junk: Buffer;
      if (i % 3 === 0) junk = randomBytes(1 + (i % 1400));
      else {
        // A valid REGISTER with random bytes stamped over it: truncated lines, broken headers, stray CRs.
        junk = Buffer.from(valid);
        for (let k = 0; k < 1 + (i % 8); k++) junk[(i * 31 + k * 97) % junk.length] = randomBytes(1)[0];
      }
      await attacker.send(junk, stack.addrs.udp!.port);
    }
    const alice = await udpPhone();
    await alice.send(request({ branch: 'z9hG4bKafterburst' }), stack.addrs.udp!.port);
    await until(() => alice.received.length === 1, 5000);
    expect(statusLine(alice.received[0])).toBe('SIP/2.0 200 OK');
    expect(await metricValue(stack.metrics.drops, { reason: 'internal-error' })).toBe(0);
  });

  it('answers a TCP message without Content-Length with 400 Missing Content-Length', async () => {
    stack = await startStack();
    const bob = await TcpPeer.open(stack.addrs.tcp!.port);
    closers.push(() => bob.close());
    const noLength = request({ branch: 'z9hG4bKnocl', transport: 'TCP', omit: ['Content-Length'] });
    await bob.write(noLength);
    await until(() => bob.received.includes('\r\n\r\n'));
    expect(statusLine(bob.received)).toBe('SIP/2.0 400 Missing Content-Length');
    expect(stack.tu.requests).toHaveLength(0);
    expect(await parseErrors('answered')).toBe(1);
  });

  it('hands responses that match no client transaction to the TU as strays', async () => {
    stack = await startStack();
    const pbx = await udpPhone();
    await pbx.send(
      'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\n' +
        'Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
      stack.addrs.udp!.port,
    );
    await until(() => stack!.tu.strayResponses.length === 1);
    expect(stack.tu.strayResponses[0].source).toMatchObject({ address: '127.0.0.1', port: pbx.port, transport: 'udp' });
    expect(await metricValue(stack.metrics.sipMessages, { transport: 'udp', kind: 'response' })).toBe(1);
  });

  it('sets the message source from the flow before the TU sees the request', async () => {
    stack = await startStack();
    const alice = await udpPhone();
    await alice.send(request({ branch: 'z9hG4bKsrc' }), stack.addrs.udp!.port);
    await until(() => stack!.tu.requests.length === 1);
    const tx = stack.tu.requests[0];
    expect(tx.request.source).toEqual({ address: '127.0.0.1', port: alice.port, transport: 'udp', flowId: tx.flow.id });
    expect(await metricValue(stack.metrics.sipRequests, { method: 'REGISTER' })).toBe(1);
  });

  it('tells the TU when a TCP phone disconnects', async () => {
    stack = await startStack();
    const bob = await TcpPeer.open(stack.addrs.tcp!.port);
    await bob.write(request({ branch: 'z9hG4bKbye', transport: 'TCP' }));
    await until(() => stack!.tu.requests.length === 1);
    bob.close();
    await until(() => stack!.tu.closedFlows.length === 1);
    expect(stack.tu.closedFlows[0]).toBe(stack.tu.requests[0].flow);
  });
});
