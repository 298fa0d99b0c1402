// parseMessage and validateRequest on raw messages: what a phone sees when its message is accepted or answered.

import { describe, expect, it } from 'vitest';
import { MAX_HEADER_LINES, parseMessage, validateRequest } from '../../src/sip/parser.ts';
import { SipError } from '../../src/sip/types.ts';
import { fixture, sip } from './fixture.ts';

function rejection(buf: Buffer): [number, string] {
  try {
    parseMessage(buf);
  } catch (e) {
    if (e instanceof SipError) return [e.status, e.reason];
    throw e;
  }
  throw new Error('parsed without error');
}

const register = [
  'REGISTER sip:pbx.example.com SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKa1',
  'From: <sip:1009@pbx.example.com>;tag=b1',
  'To: <sip:1009@pbx.example.com>',
  'Call-ID: c1@192.0.2.20',
  'CSeq: 1 REGISTER',
  'Max-Forwards: 70',
];

describe('parseMessage: the message level', () => {
  it('reads the registrar fields of a REGISTER with Digest Authorization', () => {
    const m = parseMessage(fixture('valid', 'register-digest'));
    expect([m.isRequest, m.method, m.requestUri]).toEqual([true, 'REGISTER', 'sip:pbx.example.com']);
    expect(m.topVia).toMatchObject({ transport: 'UDP', host: '192.0.2.44', port: 5062, hasRport: true });
    expect(m.topVia.branch).toBe('z9hG4bK-524287-1---6c1e4a5d0b3f2a19');
    expect([m.from.displayName, m.from.tag, m.to.tag]).toEqual(['Alice Example', '8f2d41a7', undefined]);
    expect(m.callId).toBe('ZTQ1YjJlNjY0ZDNkNGM5ZjliZDM4YjU0ZWY1NDE0ZWM.');
    expect(m.cseq).toEqual({ seq: 2, method: 'REGISTER' });
    expect([m.expires, m.maxForwards, m.userAgent]).toEqual([3600, 70, 'Zoiper rv2.10.20.5']);
    const [c] = m.contacts();
    expect(c.params.get('+sip.instance')).toBe('"<urn:uuid:00000000-0000-1000-8000-0004f2a1b2c3>"');
    expect(c.params.get('reg-id')).toBe('1');
    const [cred] = m.credentials();
    expect(cred.scheme).toBe('Digest');
    expect(Object.fromEntries(cred.params)).toMatchObject({
      username: '1001',
      realm: 'pbx.example.com',
      uri: 'sip:pbx.example.com',
      nc: '00000001',
      qop: 'auth',
      algorithm: 'MD5',
    });
    expect(m.credentials(true)).toEqual([]);
    expect(() => validateRequest(m)).not.toThrow();
  });

  it('maps compact header names to the same fields as the long ones', () => {
    const m = parseMessage(fixture('valid', 'register-compact'));
    expect([m.topVia.transport, m.from.tag, m.callId]).toEqual(['TCP', 'abc123', 'compact-1@198.51.100.7']);
    expect(m.contacts().map((c) => [c.uri, c.expires])).toEqual([
      ['sip:1002@198.51.100.7:49152;transport=tcp', 600],
      ['sip:1002@203.0.113.9:5060', undefined],
    ]);
    expect(m.headerValues('Supported')).toEqual(['path', 'outbound']);
    expect([m.header('VIA'), m.header('v'), m.has('Content-Length'), m.has('x-none')]).toEqual([
      'SIP/2.0/TCP 198.51.100.7:49152;branch=z9hG4bKc0mp4ct;rport',
      'SIP/2.0/TCP 198.51.100.7:49152;branch=z9hG4bKc0mp4ct;rport',
      true,
      false,
    ]);
  });

  it('unfolds folded header lines into one value (RFC 3261 §7.3.1)', () => {
    const m = parseMessage(fixture('valid', 'register-folded'));
    expect(m.header('via')).toBe('SIP/2.0/UDP 192.0.2.10:5060 ;branch=z9hG4bKfold1');
    expect(m.topVia.branch).toBe('z9hG4bKfold1');
    expect(m.from.tag).toBe('folded-tag');
    expect(m.cseq).toEqual({ seq: 1, method: 'REGISTER' });
    expect(m.contacts()).toHaveLength(2);
  });

  it('reads IPv6 hosts in Via, Request-URI and name-addrs without brackets', () => {
    const m = parseMessage(fixture('valid', 'invite-ipv6'));
    expect(m.vias().map((v) => [v.host, v.port])).toEqual([
      ['2001:db8::9:1', 5070],
      ['2001:db8::20', 0],
    ]);
    expect(m.vias()[1].params.get('received')).toBe('2001:db8::99');
    expect([m.ruri.host, m.ruri.port, m.ruri.params.get('transport')]).toEqual(['2001:db8::10', 5060, 'udp']);
    expect(m.from.uri).toBe('sip:bob@[2001:db8::9:1]');
  });

  it('keeps quoted display names with escaped quotes and commas intact', () => {
    const m = parseMessage(fixture('valid', 'options-quoted-display'));
    expect(m.from.displayName).toBe('Smith, John "JJ" \\ Sales');
    expect(m.to.displayName).toBe('Reception, Front Desk');
  });

  it('reads the "*" Contact of a remove-all REGISTER', () => {
    const m = parseMessage(fixture('valid', 'register-star'));
    expect(m.contacts()).toEqual([expect.objectContaining({ isStar: true, uri: '*' })]);
    expect(m.expires).toBe(0);
  });

  it('parses responses: status, reason and body', () => {
    const m = parseMessage(fixture('valid', 'invite-sdp'));
    expect(m.body.toString('latin1')).toMatch(/^v=0\r\n/);
    const r = parseMessage(fixture('valid', 'response-200-register'));
    expect([r.isRequest, r.status, r.reason, r.method]).toEqual([false, 200, 'OK', '']);
    expect(() => r.ruri).toThrow(SipError);
  });

  it('accepts bare LF line endings and CRLFs before the start line', () => {
    const m = parseMessage(Buffer.from('\r\n' + [...register, 'Content-Length: 2', '', 'hi'].join('\n')));
    expect([m.method, m.callId, m.body.toString()]).toEqual(['REGISTER', 'c1@192.0.2.20', 'hi']);
  });

  it('takes exactly Content-Length bytes and ignores the rest of a datagram (RFC 3261 §18.3)', () => {
    const m = parseMessage(sip([...register, 'Content-Length: 3'], 'abcdef'));
    expect(m.body.toString()).toBe('abc');
  });

  it('takes the rest of the datagram as body when Content-Length is absent', () => {
    expect(parseMessage(sip(register, 'abcdef')).body.toString()).toBe('abcdef');
  });

  it('accepts repeated Content-Length headers that agree', () => {
    expect(parseMessage(sip([...register, 'Content-Length: 2', 'l: 2'], 'ok')).body.toString()).toBe('ok');
  });

  it('answers 400 when Content-Length is larger than the body', () => {
    expect(rejection(fixture('invalid', 'content-length-larger'))).toEqual([400, 'Content-Length is larger than the body']);
  });

  it('answers 400 to Content-Length headers with different values', () => {
    expect(rejection(fixture('invalid', 'multiple-content-length'))).toEqual([400, 'Content-Length appears with different values']);
  });

  it('answers 400 to a Content-Length that is not a number', () => {
    expect(rejection(fixture('invalid', 'content-length-word'))).toEqual([400, 'Content-Length is malformed']);
  });

  it(`answers 400 to a header flood of more than ${MAX_HEADER_LINES} lines`, () => {
    expect(rejection(fixture('invalid', 'header-flood'))).toEqual([400, 'Too many header lines']);
    const atLimit = [...register.slice(0, 1), ...Array.from({ length: MAX_HEADER_LINES }, (_, k) => `X-H${k}: ${k}`)];
    expect(parseMessage(sip(atLimit)).headerLines('x-h255')).toEqual(['255']);
  });

  it('answers 400 to a message without the blank line that ends the headers', () => {
    expect(rejection(fixture('invalid', 'no-header-end'))).toEqual([400, 'Message has no header end']);
    expect(rejection(Buffer.from('REGISTER sip:a.example SIP/2.0'))).toEqual([400, 'Message has no header end']);
  });

  it('answers 400 to a header line without a colon', () => {
    expect(rejection(fixture('invalid', 'header-without-colon'))).toEqual([400, 'Header line has no colon']);
  });

  it('answers 400 to a continuation line before any header', () => {
    expect(rejection(fixture('invalid', 'leading-continuation'))).toEqual([400, 'Header line is malformed']);
  });

  it('answers 400 to a header name that is not a token', () => {
    expect(rejection(sip([...register, 'Bad Name: x']))).toEqual([400, 'Header name is malformed']);
    expect(rejection(sip([...register, ': x']))).toEqual([400, 'Header name is malformed']);
  });

  it('answers 400 to a start line that is not a request line', () => {
    expect(rejection(fixture('invalid', 'bad-start-line'))).toEqual([400, 'Request-Line is malformed']);
    expect(rejection(sip(['GET / HTTP/1.1', 'Host: x']))[0]).toBe(400);
    expect(rejection(sip(['SIP/2.0 99 Too Small', ...register.slice(1)]))).toEqual([400, 'Status-Line is malformed']);
    expect(rejection(sip(['SIP/3.0 200 OK', ...register.slice(1)]))).toEqual([400, 'Status-Line is malformed']);
  });

  it('answers 505 to a request with another SIP version', () => {
    expect(rejection(fixture('invalid', 'version-3'))).toEqual([505, 'Version Not Supported']);
  });
});

describe('parseMessage: lazy accessors', () => {
  it('answers 400 naming the header when a required header is missing', () => {
    const m = parseMessage(sip(register.filter((l) => !l.startsWith('Call-ID'))));
    expect(() => m.callId).toThrow(new SipError(400, 'Call-ID is missing'));
    expect(() => validateRequest(m)).toThrow(new SipError(400, 'Call-ID is missing'));
    expect(() => parseMessage(sip(register.slice(0, 1))).topVia).toThrow(new SipError(400, 'Via is missing'));
  });

  it('answers 400 when a single-valued header appears twice', () => {
    const m = parseMessage(sip([...register, 'CSeq: 2 REGISTER']));
    expect(() => m.cseq).toThrow(new SipError(400, 'CSeq is malformed'));
  });

  it('answers 400 to CSeq, Max-Forwards and Expires values out of range', () => {
    const m = parseMessage(sip(['OPTIONS sip:a.example SIP/2.0', 'CSeq: 4294967296 OPTIONS', 'Max-Forwards: 256', 'Expires: -1']));
    expect(() => m.cseq).toThrow(new SipError(400, 'CSeq is malformed'));
    expect(() => m.maxForwards).toThrow(new SipError(400, 'Max-Forwards is malformed'));
    expect(() => m.expires).toThrow(new SipError(400, 'Expires is malformed'));
    expect(parseMessage(sip(['OPTIONS sip:a.example SIP/2.0', 'CSeq: 4294967295 OPTIONS'])).cseq.seq).toBe(4294967295);
  });

  it('answers 400 to a Call-ID with spaces in it', () => {
    expect(() => parseMessage(sip([...register.slice(0, 4), 'Call-ID: a b', 'CSeq: 1 REGISTER'])).callId).toThrow(SipError);
  });

  it('answers 400 to a request whose CSeq method differs from the request method', () => {
    const m = parseMessage(sip(register.map((l) => (l.startsWith('CSeq') ? 'CSeq: 1 INVITE' : l))));
    expect(() => validateRequest(m)).toThrow(new SipError(400, 'CSeq method does not match the request method'));
  });

  it('answers 416 to a request for a URI scheme it does not serve', () => {
    const m = parseMessage(sip(['OPTIONS mailto:a@example.com SIP/2.0', ...register.slice(1, 5), 'CSeq: 1 OPTIONS']));
    expect(() => validateRequest(m)).toThrow(new SipError(416, 'Unsupported URI scheme'));
  });

  it('answers 400 to an empty element in a Contact list', () => {
    expect(() => parseMessage(sip([...register, 'Contact: <sip:a@b>,,<sip:c@d>'])).contacts()).toThrow(new SipError(400, 'Contact is malformed'));
  });

  it('caches a parsed field: the second read returns the same object', () => {
    const m = parseMessage(fixture('valid', 'register-digest'));
    expect(m.from).toBe(m.from);
    expect(m.vias()).toBe(m.vias());
    expect(m.contacts()).toBe(m.contacts());
    expect(m.credentials()).toBe(m.credentials());
  });

  it('lists all lines and all comma-separated values of a header in order', () => {
    const m = parseMessage(sip([...register, 'Route: <sip:p1.example;lr>, <sip:p2.example;lr>', 'Route: "a,b" <sip:p3.example;lr>']));
    expect(m.headerLines('route')).toEqual(['<sip:p1.example;lr>, <sip:p2.example;lr>', '"a,b" <sip:p3.example;lr>']);
    expect(m.headerValues('Route')).toEqual(['<sip:p1.example;lr>', '<sip:p2.example;lr>', '"a,b" <sip:p3.example;lr>']);
    expect(m.fields().map((f) => f.name)).toEqual([...register.slice(1).map((l) => l.slice(0, l.indexOf(':'))), 'Route', 'Route']);
  });
});
