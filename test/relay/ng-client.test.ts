// The NG control channel against a real rtpengine (started on a free port and its own media port block): bencode both
// ways, ping, an offer whose SDP comes back rewritten, query and delete, rtpengine's error replies as outcomes, a lost
// command retransmitted with its cookie, and the two ways a dead rtpengine shows (ICMP refused, silence).
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { BencodeError, decode, decodeDict, encode, encodeMerged } from '../../src/relay/bencode.ts';
import { NgClient } from '../../src/relay/ng-client.ts';
import { startTestRtpengine, type TestRtpengine } from '../../load-tests/lib/rtpengine.ts';

const PLAIN_OFFER = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=sendrecv\r\n';

describe('bencode', () => {
  it('encodes dictionaries with sorted keys, UTF-8 string lengths in bytes, and leaves undefined entries out', () => {
    expect(encode({ z: 1, a: ['x', -2], 'é': 'ü', skip: undefined }).toString('utf8')).toBe('d1:al1:xi-2ee1:zi1e2:é2:üe');
  });

  it('decodes what it encodes, and refuses truncated, trailing or malformed bytes with BencodeError', () => {
    const v = { command: 'offer', sdp: PLAIN_OFFER, flags: ['trust-address'], n: 42, nested: { l: [[]] } };
    expect(decode(encode(v))).toEqual(v);
    for (const bad of ['d3:abc', 'i12', '4:abc', 'i1ei2e', 'x', 'di1ei2ee', 'i1.5e', '-1:a', 'ie', 'i-e', 'l:e']) {
      expect(() => decode(Buffer.from(bad)), bad).toThrow(BencodeError);
    }
    expect(() => decode(Buffer.from('l'.repeat(100) + 'e'.repeat(100)))).toThrow(/nested too deeply/);
    expect(() => decode(Buffer.from('i9007199254740993e'))).toThrow(BencodeError);
  });

  it('encodes bytes as byte strings, long UTF-8 text by its byte length, and several parts as one dictionary in key order', () => {
    const sdp = Buffer.from(PLAIN_OFFER + 'a=tool:é\r\n', 'utf8');
    const long = 'ü'.repeat(100);
    expect(decode(encode({ sdp, long }))).toEqual({ sdp: sdp.toString('utf8'), long });
    const merged = encodeMerged('c1 ', [{ command: 'offer' }, { 'to-tag': undefined, sdp: 'x', ICE: 'remove' }, { ICE: 'force', DTLS: 'off', 'to-tag': 't' }]);
    expect(merged.toString('utf8')).toBe('c1 d4:DTLS3:off3:ICE6:remove7:command5:offer3:sdp1:x6:to-tag1:te');
  });

  it('decodes only the kept keys of a dictionary, still refusing malformed bytes in the ones it steps over', () => {
    const reply = encode({ result: 'ok', sdp: 'v=0', tags: { a: { medias: [{ stats: { packets: 3 } }] } }, totals: { RTP: { bytes: 9 } } });
    const none = new Set<string>();
    expect(decodeDict(reply, 0, reply.length, new Set(['result', 'sdp']), none)).toEqual({ result: 'ok', sdp: 'v=0' });
    expect(decodeDict(reply, 0, reply.length, new Set(['result', 'totals']), none)).toEqual({ result: 'ok', totals: { RTP: { bytes: 9 } } });
    for (const bad of ['d6:result2:ok4:tagsd1:ai1xee', 'd6:result2:ok4:tagsdi1ei2eee', 'd6:result2:ok4:tagsl4:abce', 'l6:resulte']) {
      expect(() => decodeDict(Buffer.from(bad), 0, bad.length, new Set(['result']), none), bad).toThrow(BencodeError);
    }
  });

  it('gives the string of a key named as bytes as the bytes it came in (an SDP in UTF-8), other values as text', () => {
    const sdp = Buffer.from(PLAIN_OFFER + 'a=tool:é\r\n', 'utf8');
    const reply = encode({ result: 'ok', sdp, warning: 'x', nested: { sdp: 'inner' } });
    const v = decodeDict(reply, 0, reply.length, undefined, new Set(['sdp']));
    expect(Buffer.isBuffer(v.sdp) && v.sdp.equals(sdp)).toBe(true);
    expect(v).toMatchObject({ result: 'ok', warning: 'x', nested: { sdp: 'inner' } });
    expect(decodeDict(reply, 0, reply.length, new Set(['result']), new Set(['sdp']))).toEqual({ result: 'ok' });
    // A key named as bytes whose value is not a string is decoded as usual.
    const odd = encode({ sdp: 5 });
    expect(decodeDict(odd, 0, odd.length, undefined, new Set(['sdp']))).toEqual({ sdp: 5 });
    for (const bad of ['l6:resulte', 'd3:sdp9:ve', 'd3:sdp3:v=0']) {
      expect(() => decodeDict(Buffer.from(bad), 0, bad.length, undefined, new Set(['sdp'])), bad).toThrow(BencodeError);
    }
  });
});

describe('NG client against a real rtpengine', () => {
  let rtpengine: TestRtpengine;
  beforeAll(async () => {
    rtpengine = await startTestRtpengine();
  });
  afterAll(async () => {
    await rtpengine?.stop();
  });

  const client = (port = rtpengine.ngPort, timeoutMs = 2000): NgClient =>
    new NgClient({ host: '127.0.0.1', port, timeoutMs, retransmitMs: 200, clock: systemClock });

  it('pings, offers (the SDP comes back with rtpengine as the media address), queries and deletes a call', async () => {
    const ng = client();
    try {
      expect(await ng.command({ command: 'ping' })).toEqual({ ok: true, reply: { result: 'pong' } });
      const offer = await ng.command({ command: 'offer', 'call-id': 'ng-1', 'from-tag': 'alice', sdp: PLAIN_OFFER, replace: ['origin', 'session-connection'] });
      expect(offer.ok && Buffer.isBuffer(offer.reply.sdp)).toBe(true);
      const sdp = offer.ok ? String(offer.reply.sdp) : '';
      const port = Number(/m=audio (\d+) RTP\/AVP/.exec(sdp)?.[1]);
      expect(port).toBeGreaterThan(0);
      expect(port).not.toBe(4000);
      const query = await ng.command({ command: 'query', 'call-id': 'ng-1' });
      expect(query.ok && Object.keys(query.reply.tags as object)).toContain('alice');
      expect((await ng.command({ command: 'delete', 'call-id': 'ng-1', 'from-tag': 'alice' })).ok).toBe(true);
      expect(await ng.command({ command: 'query', 'call-id': 'ng-1' })).toEqual({ ok: false, reason: 'error', detail: 'Unknown call-id' });
    } finally {
      ng.close();
    }
  });

  it('retransmits a command whose datagram was lost, with the same cookie, and takes the one reply', async () => {
    // A relay between the client and rtpengine that drops the first datagram it is given.
    const relay = dgram.createSocket('udp4');
    await new Promise<void>((r) => relay.bind(0, '127.0.0.1', () => r()));
    const seen: string[] = [];
    let peer: dgram.RemoteInfo | undefined;
    relay.on('message', (m, from) => {
      if (from.port === rtpengine.ngPort) {
        relay.send(m, peer!.port, peer!.address);
        return;
      }
      peer = from;
      seen.push(m.toString('latin1', 0, m.indexOf(0x20)));
      if (seen.length > 1) relay.send(m, rtpengine.ngPort, '127.0.0.1');
    });
    const ng = client(relay.address().port);
    try {
      expect(await ng.command({ command: 'ping' })).toEqual({ ok: true, reply: { result: 'pong' } });
      expect(seen.length).toBe(2);
      expect(seen[1]).toBe(seen[0]);
    } finally {
      ng.close();
      relay.close();
    }
  });

  it('reports a port nobody listens on as refused, and silence as a timeout, without throwing', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    const closedPort = await new Promise<number>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    const refused = client(closedPort);
    const quiet = client(silent.address().port, 300);
    try {
      const r = await refused.command({ command: 'ping' });
      expect(r.ok ? 'ok' : r.reason).toBe('refused');
      const q = await quiet.command({ command: 'ping' });
      expect(q.ok ? 'ok' : q.reason).toBe('timeout');
    } finally {
      refused.close();
      quiet.close();
      silent.close();
    }
  });
});
