// What the next hop reads from a request or response this edge forwarded (RFC 3261 §16.6, §16.7) and from the
// CANCEL/ACK it builds (§9.1, §17.1.1.3): the output is parsed again and asserted on fields and on raw bytes.

import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/sip/parser.ts';
import { buildAck, buildCancel, forwardRequest, forwardResponse } from '../../src/sip/forward.ts';
import { SipError } from '../../src/sip/types.ts';
import type { SipMessage } from '../../src/sip/types.ts';
import { fixture, sip } from './fixture.ts';

const OUR_VIA = 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKedge0001';
const OUR_RR = '<sip:192.0.2.1:5060;lr>';

/** sip() with the body as UTF-8 bytes (sip() writes latin1). */
function sipUtf8(head: string[], body: string): Buffer {
  return Buffer.concat([sip(head), Buffer.from(body, 'utf8')]);
}

function lines(buf: Buffer): string[] {
  const s = buf.toString('latin1');
  return s.slice(0, s.indexOf('\r\n\r\n')).split('\r\n');
}

/** Every header line of raw whose name (any case) is not in names: the lines that must pass through untouched. */
function untouchedLines(raw: Buffer, names: string[]): string[] {
  return lines(raw)
    .slice(1)
    .filter((l) => !names.includes(l.slice(0, l.indexOf(':')).trim().toLowerCase()));
}

describe('forwardRequest', () => {
  const raw = fixture('valid', 'invite-proxied');
  const req = parseMessage(raw);

  it('applies §16.6: new Request-URI, Via on top, Max-Forwards - 1, Record-Route first, top Route removed', () => {
    const out = forwardRequest(req, {
      requestUri: 'sip:1007@198.51.100.40:5080;transport=udp',
      via: OUR_VIA,
      recordRoute: [OUR_RR],
      removeTopRoute: true,
    });
    const fwd = parseMessage(out);
    expect(fwd.method).toBe('INVITE');
    expect(fwd.requestUri).toBe('sip:1007@198.51.100.40:5080;transport=udp');
    expect(fwd.headerValues('via')).toEqual([OUR_VIA, ...req.headerValues('via')]);
    expect(fwd.vias().map((v) => v.branch)).toEqual(['z9hG4bKedge0001', 'z9hG4bK-74f1a3c5', 'z9hG4bK-a1b2c3d4', 'z9hG4bK-0099']);
    expect(fwd.maxForwards).toBe(68);
    expect(fwd.headerValues('record-route')).toEqual([OUR_RR, '<sip:sbc.example.org;lr>']);
    expect(fwd.headerValues('route')).toEqual(['<sip:core.example.net;lr;transport=tcp>', '<sip:pbx.example.com;lr>']);
    expect(fwd.callId).toBe(req.callId);
    expect(fwd.cseq).toEqual({ seq: 314159, method: 'INVITE' });
    expect(fwd.from.tag).toBe('9fxced76sl');
  });

  it('keeps unknown headers byte for byte, in order, and the UTF-8 body with a right Content-Length', () => {
    const out = forwardRequest(req, { via: OUR_VIA, recordRoute: [OUR_RR], removeTopRoute: true });
    const edited = ['via', 'max-forwards', 'route', 'record-route', 'content-length'];
    expect(untouchedLines(out, edited)).toEqual(untouchedLines(raw, edited));
    expect(out.toString('latin1')).toContain('\r\nX-Custom-Header:   keep  me "exactly" , as is  \r\n');
    const fwd = parseMessage(out);
    expect(fwd.body.equals(req.body)).toBe(true);
    expect(fwd.body.toString('utf8')).toContain('s=Café réunion — 会议');
    expect(req.body.length).toBeGreaterThan(req.body.toString('utf8').length); // multi-byte characters
    expect(fwd.header('content-length')).toBe(String(req.body.length));
    expect(out.subarray(out.length - req.body.length).equals(req.body)).toBe(true);
    expect(out.indexOf('\r\n\r\n') + 4 + req.body.length).toBe(out.length);
  });

  it('writes the lines in place: Via above the first Via, Record-Route above the first Record-Route', () => {
    const out = forwardRequest(req, { via: OUR_VIA, recordRoute: ['<sip:a.example;lr>', '<sip:b.example;lr>'] });
    expect(lines(out).slice(0, 9)).toEqual([
      'INVITE sip:1007@pbx.example.com SIP/2.0',
      'Via: ' + OUR_VIA,
      'Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-74f1a3c5;rport',
      'Via: SIP/2.0/TCP 10.0.0.7:5060;branch=z9hG4bK-a1b2c3d4;received=10.0.0.7, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-0099',
      'Max-Forwards: 68',
      'Route: <sip:edge.example.com;lr>, <sip:core.example.net;lr;transport=tcp>',
      'Route: <sip:pbx.example.com;lr>',
      'Record-Route: <sip:a.example;lr>',
      'Record-Route: <sip:b.example;lr>',
    ]);
    expect(lines(out)[9]).toBe('Record-Route: <sip:sbc.example.org;lr>');
  });

  it('drops a Route line whose only value is removed, and replaces the whole Route set on request', () => {
    const one = parseMessage(sip(['OPTIONS sip:x@pbx.example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'Route: <sip:edge.example.com;lr>', 'Route: <sip:next.example;lr>', 'From: <sip:a@b>;tag=1', 'To: <sip:x@pbx.example.com>', 'Call-ID: r1', 'CSeq: 1 OPTIONS']));
    const removed = parseMessage(forwardRequest(one, { via: OUR_VIA, removeTopRoute: true }));
    expect(removed.headerLines('route')).toEqual(['<sip:next.example;lr>']);
    const replaced = parseMessage(forwardRequest(req, { via: OUR_VIA, route: ['<sip:r1.example;lr>', '<sip:r2.example;lr>'], removeTopRoute: true }));
    expect(replaced.headerValues('route')).toEqual(['<sip:r1.example;lr>', '<sip:r2.example;lr>']);
    const none = parseMessage(forwardRequest(req, { via: OUR_VIA, route: [] }));
    expect(none.has('route')).toBe(false);
    // A Route set given for a request without Route is added.
    const added = parseMessage(forwardRequest(one, { via: OUR_VIA, route: [] }));
    expect(parseMessage(forwardRequest(added, { via: OUR_VIA, route: ['<sip:r9.example;lr>'] })).headerValues('route')).toEqual(['<sip:r9.example;lr>']);
  });

  it('recognises compact forms (v, l, m, ...) and keeps them as written', () => {
    const compact = parseMessage(fixture('valid', 'register-compact'));
    const out = forwardRequest(compact, { via: OUR_VIA, recordRoute: [OUR_RR] });
    const l = lines(out);
    expect(l[0]).toBe('REGISTER sip:pbx.example.com SIP/2.0');
    expect(l).toContain('Record-Route: ' + OUR_RR);
    expect(l.indexOf('Via: ' + OUR_VIA) + 1).toBe(l.indexOf('v: SIP/2.0/TCP 198.51.100.7:49152;branch=z9hG4bKc0mp4ct;rport'));
    expect(l).toContain('m: <sip:1002@198.51.100.7:49152;transport=tcp>;expires=600, <sip:1002@203.0.113.9:5060>;q=0.5');
    expect(l).toContain('l: 0');
    expect(l.filter((x) => /^(content-length|l):/i.test(x))).toHaveLength(1);
    const fwd = parseMessage(out);
    expect(fwd.vias().map((v) => v.branch)).toEqual(['z9hG4bKedge0001', 'z9hG4bKc0mp4ct']);
    expect(fwd.maxForwards).toBe(69);
    expect(fwd.contacts()).toHaveLength(2);
  });

  it('adds Max-Forwards: 70 when absent, leaves it when asked, and refuses to forward at 0 (483)', () => {
    const noMf = parseMessage(sipUtf8(['MESSAGE sip:x@pbx.example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:x@pbx.example.com>', 'Call-ID: m1', 'CSeq: 1 MESSAGE', 'Content-Type: text/plain'], 'héllo'));
    const fwd = parseMessage(forwardRequest(noMf, { via: OUR_VIA }));
    expect(fwd.maxForwards).toBe(70);
    // No Content-Length in the input (a datagram): one is added, counting UTF-8 bytes.
    expect(fwd.header('content-length')).toBe(String(Buffer.byteLength('héllo', 'utf8')));
    expect(fwd.body.toString('utf8')).toBe('héllo');
    expect(parseMessage(forwardRequest(req, { via: OUR_VIA, maxForwardsDecrement: false })).maxForwards).toBe(69);
    const zero = parseMessage(sip(['OPTIONS sip:x@pbx.example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'Max-Forwards: 0', 'From: <sip:a@b>;tag=1', 'To: <sip:x@pbx.example.com>', 'Call-ID: z1', 'CSeq: 1 OPTIONS']));
    expect(() => forwardRequest(zero, { via: OUR_VIA })).toThrow(SipError);
    try {
      forwardRequest(zero, { via: OUR_VIA });
    } catch (e) {
      expect((e as SipError).status).toBe(483);
    }
  });

  it('removes the named headers (known and unknown, any case) and appends extra headers', () => {
    const out = forwardRequest(req, { via: OUR_VIA, removeHeaders: ['proxy-authorization', 'x-custom-header'], extraHeaders: ['X-Edge: 1', 'P-Charging-Vector: icid-value=abc'] });
    const fwd = parseMessage(out);
    expect(fwd.has('proxy-authorization')).toBe(false);
    expect(fwd.has('x-custom-header')).toBe(false);
    expect(fwd.header('p-asserted-identity')).toBe('"Alice Example" <sip:1001@pbx.example.com>');
    expect(fwd.header('x-edge')).toBe('1');
    expect(fwd.header('p-charging-vector')).toBe('icid-value=abc');
    expect(fwd.body.equals(req.body)).toBe(true);
  });

  it('copies folded header lines as they were', () => {
    const raw2 = fixture('valid', 'register-folded');
    const out = forwardRequest(parseMessage(raw2), { via: OUR_VIA });
    expect(out.toString('latin1')).toContain('\r\nContact: <sip:1003@192.0.2.10:5060>,\r\n  <sip:1003@192.0.2.11:5060>\r\n');
    const fwd = parseMessage(out);
    expect(fwd.vias().map((v) => v.branch)).toEqual(['z9hG4bKedge0001', 'z9hG4bKfold1']);
    expect(fwd.cseq).toEqual({ seq: 1, method: 'REGISTER' });
    expect(fwd.contacts()).toHaveLength(2);
  });

  it('writes header lines of a bare-LF message with CRLF, text unchanged', () => {
    const lf = Buffer.from('OPTIONS sip:x@pbx.example.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\nTo: <sip:x@pbx.example.com>\nCall-ID: lf1\nCSeq: 1 OPTIONS\nX-Odd:  a  \n\n', 'latin1');
    const out = forwardRequest(parseMessage(lf), { via: OUR_VIA }).toString('latin1');
    expect(out).toBe(
      ['OPTIONS sip:x@pbx.example.com SIP/2.0', 'Max-Forwards: 70', 'Via: ' + OUR_VIA, 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:x@pbx.example.com>', 'Call-ID: lf1', 'CSeq: 1 OPTIONS', 'X-Odd:  a  ', 'Content-Length: 0', '', ''].join('\r\n'),
    );
  });

  it('writes inserted values that hold UTF-8 as UTF-8 bytes', () => {
    const out = forwardRequest(req, { via: OUR_VIA, extraHeaders: ['Subject: Réunion'] });
    expect(out.includes(Buffer.from('Subject: Réunion\r\n', 'utf8'))).toBe(true);
  });

  it('carries a replacement body (an SDP the media relay rewrote) with its own Content-Length, every line else as it was', () => {
    const sdp = Buffer.from('v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n');
    const out = forwardRequest(req, { via: OUR_VIA, body: sdp });
    const fwd = parseMessage(out);
    expect(fwd.body.equals(sdp)).toBe(true);
    expect(fwd.header('content-length')).toBe(String(sdp.length));
    expect(untouchedLines(out, ['via', 'max-forwards', 'content-length'])).toEqual(untouchedLines(forwardRequest(req, { via: OUR_VIA }), ['via', 'max-forwards', 'content-length']));
  });
});

describe('forwardResponse', () => {
  const ringingRaw = (viaLines: string[]): Buffer =>
      sip(
        [
          'SIP/2.0 180 Ringing',
          ...viaLines,
          'Record-Route: <sip:192.0.2.1:5060;lr>, <sip:sbc.example.org;lr>',
          'From: "Alice Example" <sip:1001@pbx.example.com>;tag=9fxced76sl',
          'To: "Bob" <sip:1007@pbx.example.com>;tag=b0b',
          'Call-ID: 3848276298220188511@198.51.100.23',
          'CSeq: 314159 INVITE',
          'X-Trace:  id=7  ',
          'Content-Type: text/plain',
          'Content-Length: 7',
        ],
        'ringing',
      );
  const ringing = (viaLines: string[]): SipMessage => parseMessage(ringingRaw(viaLines));

  it('removes only the first value of a Via line holding several (§16.7 step 3)', () => {
    const raw = ringingRaw([`Via: ${OUR_VIA} , SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-74f1a3c5;rport=5062, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-0099`, 'Via: SIP/2.0/UDP 10.0.0.10;branch=z9hG4bK-last']);
    const out = forwardResponse(parseMessage(raw));
    expect(lines(out).slice(0, 3)).toEqual([
      'SIP/2.0 180 Ringing',
      'Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-74f1a3c5;rport=5062, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-0099',
      'Via: SIP/2.0/UDP 10.0.0.10;branch=z9hG4bK-last',
    ]);
    const fwd = parseMessage(out);
    expect(fwd.vias().map((v) => v.branch)).toEqual(['z9hG4bK-74f1a3c5', 'z9hG4bK-0099', 'z9hG4bK-last']);
    expect(fwd.status).toBe(180);
    expect(fwd.reason).toBe('Ringing');
    expect(fwd.body.toString('latin1')).toBe('ringing');
    expect(untouchedLines(out, ['via'])).toEqual(untouchedLines(raw, ['via']));
    expect(out.toString('latin1')).toContain('\r\nX-Trace:  id=7  \r\n');
  });

  it('drops a Via line whose only value was ours, and keeps it all with removeTopVia: false', () => {
    const res = ringing([`Via: ${OUR_VIA}`, 'Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-74f1a3c5']);
    expect(parseMessage(forwardResponse(res)).headerLines('via')).toEqual(['SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-74f1a3c5']);
    expect(parseMessage(forwardResponse(res, { removeTopVia: false })).headerLines('via')).toHaveLength(2);
  });

  it('replaces our Record-Route value and fixes Content-Length', () => {
    const res = parseMessage(sipUtf8(['SIP/2.0 200 OK', `Via: ${OUR_VIA}`, 'Via: SIP/2.0/UDP h;branch=z9hG4bK2', 'Record-Route: <sip:sbc.example.org;lr>, <sip:192.0.2.1:5060;lr>', 'From: <sip:a@b>;tag=1', 'To: <sip:x@y>;tag=2', 'Call-ID: c', 'CSeq: 1 INVITE', 'Content-Type: application/sdp'], 'v=0\r\ns=Straße\r\n'));
    const out = forwardResponse(res, { recordRoute: { ours: '<sip:192.0.2.1:5060;lr>', replacement: '<sip:203.0.113.1:5060;lr>' } });
    const fwd = parseMessage(out);
    expect(fwd.headerLines('record-route')).toEqual(['<sip:sbc.example.org;lr>, <sip:203.0.113.1:5060;lr>']);
    expect(fwd.header('content-length')).toBe(String(Buffer.byteLength('v=0\r\ns=Straße\r\n', 'utf8')));
    expect(fwd.body.toString('utf8')).toBe('v=0\r\ns=Straße\r\n');
    const rewritten = Buffer.from('v=0\r\ns=-\r\nm=audio 30002 UDP/TLS/RTP/SAVPF 111\r\n');
    const replaced = parseMessage(forwardResponse(res, { body: rewritten }));
    expect(replaced.body.equals(rewritten)).toBe(true);
    expect(replaced.header('content-length')).toBe(String(rewritten.length));
    expect(replaced.header('content-type')).toBe('application/sdp');
  });
});

describe('buildCancel and buildAck', () => {
  const raw = fixture('valid', 'invite-proxied');
  const req = parseMessage(raw);

  it('builds the CANCEL of §9.1 byte for byte', () => {
    const out = buildCancel(req);
    expect(out.toString('latin1')).toBe(
      [
        'CANCEL sip:1007@pbx.example.com SIP/2.0',
        'Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-74f1a3c5;rport',
        'Max-Forwards: 70',
        'Route: <sip:edge.example.com;lr>, <sip:core.example.net;lr;transport=tcp>',
        'Route: <sip:pbx.example.com;lr>',
        'From: "Alice Example" <sip:1001@pbx.example.com>;tag=9fxced76sl',
        'To: "Bob" <sip:1007@pbx.example.com>',
        'Call-ID: 3848276298220188511@198.51.100.23',
        'CSeq: 314159 CANCEL',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
  });

  it('cancels what was forwarded: the single Via is the one on the forwarded request', () => {
    const sent = parseMessage(forwardRequest(req, { via: OUR_VIA, requestUri: 'sip:1007@198.51.100.40:5080', removeTopRoute: true }));
    const cancel = parseMessage(buildCancel(sent));
    expect(cancel.method).toBe('CANCEL');
    expect(cancel.requestUri).toBe('sip:1007@198.51.100.40:5080');
    expect(cancel.headerValues('via')).toEqual([OUR_VIA]);
    expect(cancel.headerValues('route')).toEqual(sent.headerValues('route'));
    expect(cancel.cseq).toEqual({ seq: 314159, method: 'CANCEL' });
    expect(cancel.maxForwards).toBe(70);
    expect(cancel.body.length).toBe(0);
    expect(parseMessage(buildCancel(req, OUR_VIA)).headerValues('via')).toEqual([OUR_VIA]);
  });

  it('builds the ACK of a non-2xx final response with the To tag of the response (§17.1.1.3)', () => {
    const busy = parseMessage(sip(['SIP/2.0 486 Busy Here', `Via: ${OUR_VIA}`, 'From: "Alice Example" <sip:1001@pbx.example.com>;tag=9fxced76sl', 'To: "Bob" <sip:1007@pbx.example.com>;tag=busy1', 'Call-ID: 3848276298220188511@198.51.100.23', 'CSeq: 314159 INVITE', 'Content-Length: 0']));
    const ack = parseMessage(buildAck(req, busy, OUR_VIA));
    expect(ack.method).toBe('ACK');
    expect(ack.requestUri).toBe(req.requestUri);
    expect(ack.to.tag).toBe('busy1');
    expect(ack.from.tag).toBe('9fxced76sl');
    expect(ack.cseq).toEqual({ seq: 314159, method: 'ACK' });
    expect(ack.headerValues('via')).toEqual([OUR_VIA]);
    expect(ack.headerLines('route')).toEqual(req.headerLines('route'));
  });
});
