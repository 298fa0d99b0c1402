// RFC 4475 torture messages sent over a real UDP socket to a running edge: what each sender receives, and that the
// edge keeps serving afterwards; over TLS, the same answers as over TCP. The parser-level outcomes of the same
// fixtures are in test/sip/rfc4475.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Phone } from '../helpers/phone.ts';
import { parseMsg, SipPeer } from '../helpers/sip-peer.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import { NextMatch } from '../helpers/next-match.ts';

const DIR = 'test/fixtures/sip/rfc4475';

/** What a sender of each torture message gets back: a status, or nothing (a counted drop). */
const EXPECTED: Record<string, number | 'nothing'> = {
  badvers: 505, // §3.3.15 a request with SIP/7.0
  clerr: 400, // §3.1.2.4 Content-Length larger than the body
  ncl: 400, // §3.1.2.6 negative Content-Length
  mcl01: 400, // §3.1.2.3 several different Content-Length values
  scalar02: 400, // §3.1.2.7 Max-Forwards out of range
  scalarlg: 'nothing', // §3.1.2.8 a 503 response with out-of-range values: responses are never answered
  quotbal: 400, // §3.1.2.9 unbalanced quotes
  insuf: 400, // §3.1.2.13 missing Call-ID/From/To/...: answered from what is there, or dropped
  mismatch01: 400, // §3.1.2.15 CSeq method differs from the request method
  unkscm: 416, // §3.3.5 unknown Request-URI scheme
  bigcode: 'nothing', // §3.1.2.18 a response with a 4-digit code: never answered
  zeromf: 200, // §3.1.1.11 OPTIONS with Max-Forwards 0: the edge answers it as the UAS (RFC 3261 §16.3 item 2)
};

describe('RFC 4475 torture messages over UDP', () => {
  let edge: TestEdge;
  let sock: dgram.Socket;
  const replies: string[] = [];
  const arriving = new NextMatch<string>();

  beforeAll(async () => {
    // One socket sends ~200 messages here as fast as the answers come, without proving a password: over the flood
    // guard's default per-address budget (README "Under attack"), which test/e2e/flood.test.ts covers.
    edge = await startEdge({ store: 'memory', overrides: { flood: { udp: { rate: 10_000, burst: 10_000 } } } });
    await edge.cli(async (p) => {
      await p.addTenant('acme', 'acme.example.com');
      await p.addExtension({ ext: '1001', tenant: 'acme' }, { password: 'Correct-Horse-Battery-9' });
    });
    sock = dgram.createSocket('udp4');
    sock.on('message', (m) => {
      replies.push(m.toString('latin1'));
      arriving.feed(m.toString('latin1'));
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  });
  afterAll(async () => {
    sock.close();
    await edge.stop();
  });

  /** The first reply from now on that matches. */
  const nextReply = (match: (reply: string) => boolean = () => true): Promise<string> => arriving.next(match, 10_000, 'reply');

  /**
   * Sends a torture message, then an OPTIONS to the edge from the same socket, and returns what came back before the
   * OPTIONS's 200: the edge reads one socket's datagrams in order and answers a message it cannot parse, or drops it,
   * while reading it, so anything it says about the torture message is on the way before the 200.
   */
  async function sendThenProbe(name: string): Promise<string[]> {
    const before = replies.length;
    const callId = `probe-${randomBytes(6).toString('hex')}`;
    const port = (sock.address() as { port: number }).port;
    const probe = [
      `OPTIONS sip:127.0.0.1:${edge.udpPort} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK${callId};rport`,
      'Max-Forwards: 70',
      `From: <sip:probe@127.0.0.1>;tag=${callId}`,
      `To: <sip:127.0.0.1:${edge.udpPort}>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const answered = nextReply((r) => r.includes(`Call-ID: ${callId}`));
    sock.send(readFileSync(join(DIR, `${name}.sip`)), edge.udpPort, '127.0.0.1');
    sock.send(probe, edge.udpPort, '127.0.0.1');
    const reply = await answered;
    return replies.slice(before, replies.indexOf(reply, before));
  }

  for (const [name, expected] of Object.entries(EXPECTED)) {
    it(`${expected === 'nothing' ? 'drops' : `answers ${expected} to`} ${name}`, async () => {
      if (expected === 'nothing') {
        expect(await sendThenProbe(name)).toEqual([]);
        return;
      }
      const reply = nextReply();
      sock.send(readFileSync(join(DIR, `${name}.sip`)), edge.udpPort, '127.0.0.1');
      expect(parseMsg(await reply).status).toBe(expected);
    });
  }

  it('survives every torture message and still registers a phone afterwards', async () => {
    for (const f of readdirSync(DIR)) await sendThenProbe(f.replace(/\.sip$/, ''));
    expect(await eventually(async () => !!(await edge.app.stores.accounts.getExtension('acme', '1001')))).toBe(true);
    const client = await SipPeer.open({ transport: 'udp', port: edge.udpPort });
    const phone = new Phone(client, { ext: '1001', domain: 'acme.example.com', password: 'Correct-Horse-Battery-9' });
    expect((await phone.register({ expires: 600 })).status).toBe(200);
    await client.close();
    expect(await edge.metric('sipedge_sip_parse_errors_total')).toBeGreaterThan(0);
  });
});

describe('RFC 4475 torture messages over TLS', () => {
  let edge: TestEdge;

  beforeAll(async () => {
    edge = await startEdge({ store: 'memory' });
  });
  afterAll(async () => {
    await edge.stop();
  });

  /**
   * Sends one torture message on a new stream connection, then an OPTIONS "sentinel" on the same connection. Streams
   * keep order, so once the sentinel's 200 is back (or the edge closed the connection) everything the torture message
   * drew has arrived: the status codes before it, and whether the connection was closed.
   */
  async function outcome(name: string, transport: 'tcp' | 'tls'): Promise<string> {
    const port = transport === 'tcp' ? edge.tcpPort : edge.tlsPort;
    const socket = transport === 'tcp' ? net.connect(port, '127.0.0.1') : tls.connect({ port, host: '127.0.0.1', ca: edge.app.certificates!.current.cert });
    await new Promise<void>((r, j) => socket.once(transport === 'tcp' ? 'connect' : 'secureConnect', () => r()).once('error', j));
    const sentinel = `sentinel-${name}-${transport}`;
    let text = '';
    const done = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5000);
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        if (text.includes(`Call-ID: ${sentinel}\r\n`)) {
          clearTimeout(timer);
          resolve(false);
        }
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
      socket.on('error', () => undefined);
    });
    socket.write(readFileSync(join(DIR, `${name}.sip`)));
    socket.write(
      `OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK${sentinel}\r\nMax-Forwards: 70\r\n` +
        `From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ${sentinel}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
    );
    const closed = await done;
    socket.destroy();
    const statuses = text
      .split('\r\n\r\n')
      .filter((m) => m.startsWith('SIP/2.0 ') && !m.includes(`Call-ID: ${sentinel}\r\n`))
      .map((m) => m.split(' ')[1]);
    return `${statuses.join(',') || 'nothing'}${closed ? ' + closed' : ''}`;
  }

  it('answers each torture message over TLS as it does over TCP', async () => {
    const names = readdirSync(DIR).map((f) => f.replace(/\.sip$/, ''));
    const results: Record<string, { tcp: string; tls: string }> = {};
    for (let i = 0; i < names.length; i += 8) {
      await Promise.all(
        names.slice(i, i + 8).map(async (n) => {
          const [tcp, overTls] = await Promise.all([outcome(n, 'tcp'), outcome(n, 'tls')]);
          results[n] = { tcp, tls: overTls };
        }),
      );
    }
    expect(Object.keys(results)).toHaveLength(names.length);
    for (const [n, r] of Object.entries(results)) expect(r.tls, n).toBe(r.tcp);
    // Not just equal silence: over TCP most of them draw an answer.
    expect(Object.values(results).filter((r) => /^\d/.test(r.tcp)).length).toBeGreaterThan(names.length / 2);
    expect(results.badvers!.tls).toBe('505');
  });
});
