// Responses built from parsed requests (what the phone reads back), round trips, built requests and random ids.

import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/sip/parser.ts';
import { createResponse, statusLine } from '../../src/sip/response.ts';
import { buildRequest, serializeMessage } from '../../src/sip/request.ts';
import { newBranch, newCallId, newTag } from '../../src/sip/random.ts';
import { isToken } from '../../src/sip/token.ts';
import type { MessageSource } from '../../src/sip/types.ts';
import { fixture, sip } from './fixture.ts';

const natSource: MessageSource = { address: '203.0.113.5', port: 40123, transport: 'udp', flowId: 'udp:1' };

function lines(buf: Buffer): string[] {
  return buf.toString('latin1').split('\r\n');
}

describe('createResponse', () => {
  it('answers a REGISTER from behind NAT with received and rport on the top Via (RFC 3581)', () => {
    const req = parseMessage(fixture('valid', 'register-digest'));
    req.source = natSource;
    const res = createResponse(req, 200, 'OK', { toTag: 'srv1', headers: ['Contact: <sip:1001@192.0.2.44:5062>;expires=3600'] });
    expect(lines(res)).toEqual([
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP 192.0.2.44:5062;branch=z9hG4bK-524287-1---6c1e4a5d0b3f2a19;rport=40123;received=203.0.113.5',
      'From: "Alice Example" <sip:1001@pbx.example.com>;tag=8f2d41a7',
      'To: "Alice Example" <sip:1001@pbx.example.com>;tag=srv1',
      'Call-ID: ZTQ1YjJlNjY0ZDNkNGM5ZjliZDM4YjU0ZWY1NDE0ZWM.',
      'CSeq: 2 REGISTER',
      'Contact: <sip:1001@192.0.2.44:5062>;expires=3600',
      'Content-Length: 0',
      '',
      '',
    ]);
    const back = parseMessage(res);
    expect([back.status, back.to.tag, back.topVia.params.get('rport'), back.topVia.params.get('received')]).toEqual([200, 'srv1', '40123', '203.0.113.5']);
  });

  it('copies every Via in order and amends only the top one', () => {
    const req = parseMessage(fixture('valid', 'invite-ipv6'));
    req.source = { address: '2001:db8::77', port: 5070, transport: 'udp', flowId: 'u' };
    const vias = lines(createResponse(req, 180, 'Ringing', { toTag: 't' })).filter((l) => l.startsWith('Via:'));
    expect(vias).toEqual([
      'Via: SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKv6a;rport=5070;received=2001:db8::77',
      'Via: SIP/2.0/TCP [2001:db8::20];branch=z9hG4bKv6b;received=2001:db8::99',
    ]);
  });

  it('adds no received when the source is the Via host and rport was not asked for (RFC 3261 §18.2.1)', () => {
    const req = parseMessage(fixture('valid', 'options-quoted-display'));
    req.source = { address: '192.0.2.12', port: 5060, transport: 'udp', flowId: 'u' };
    expect(lines(createResponse(req, 200, 'OK'))[1]).toBe('Via: SIP/2.0/UDP 192.0.2.12:5060;branch=z9hG4bKquote');
    req.source = { address: '198.51.100.1', port: 5060, transport: 'udp', flowId: 'u' };
    expect(lines(createResponse(req, 200, 'OK'))[1]).toBe('Via: SIP/2.0/UDP 192.0.2.12:5060;branch=z9hG4bKquote;received=198.51.100.1');
  });

  it('amends the first via-parm when one Via line carries several', () => {
    const req = parseMessage(sip(['OPTIONS sip:a.example SIP/2.0', 'Via: SIP/2.0/UDP h1;rport;branch=z9hG4bK1, SIP/2.0/UDP h2;rport;branch=z9hG4bK2', 'CSeq: 1 OPTIONS']));
    req.source = natSource;
    expect(lines(createResponse(req, 200, 'OK'))[1]).toBe(
      'Via: SIP/2.0/UDP h1;rport=40123;branch=z9hG4bK1;received=203.0.113.5, SIP/2.0/UDP h2;rport;branch=z9hG4bK2',
    );
  });

  it('keeps the To tag the request already had and adds none on 100 Trying', () => {
    const req = parseMessage(fixture('valid', 'response-200-register'));
    expect(lines(createResponse(req, 200, 'OK', { toTag: 'new' }))).toContain('To: <sip:1001@pbx.example.com>;tag=srv1');
    const reg = parseMessage(fixture('valid', 'register-digest'));
    expect(lines(createResponse(reg, 100, 'Trying', { toTag: 'new' }))).toContain('To: "Alice Example" <sip:1001@pbx.example.com>');
  });

  it('answers a request with a malformed To without failing, echoing it untouched', () => {
    const req = parseMessage(fixture('rfc4475', 'quotbal'));
    const res = lines(createResponse(req, 400, 'Bad Request', { toTag: 'x' }));
    expect(res[0]).toBe('SIP/2.0 400 Bad Request');
    expect(res).toContain('To: "Mr. J. User <sip:j.user@example.com>');
  });

  it('writes canonical header names even when the request used compact ones', () => {
    const res = lines(createResponse(parseMessage(fixture('valid', 'register-compact')), 423, 'Interval Too Brief', { headers: ['Min-Expires: 60'] }));
    expect(res.slice(0, 8)).toEqual([
      'SIP/2.0 423 Interval Too Brief',
      'Via: SIP/2.0/TCP 198.51.100.7:49152;branch=z9hG4bKc0mp4ct;rport',
      'From: <sip:1002@pbx.example.com>;tag=abc123',
      'To: <sip:1002@pbx.example.com>',
      'Call-ID: compact-1@198.51.100.7',
      'CSeq: 7 REGISTER',
      'Min-Expires: 60',
      'Content-Length: 0',
    ]);
  });

  it('writes Content-Type and the byte length of a body', () => {
    const req = parseMessage(fixture('valid', 'invite-sdp'));
    const res = createResponse(req, 200, 'OK', { toTag: 't', body: 'v=0\r\ns=é\r\n' });
    const back = parseMessage(res);
    expect([back.header('content-type'), back.header('content-length'), back.body.toString('utf8')]).toEqual(['application/sdp', '11', 'v=0\r\ns=é\r\n']);
    const text = parseMessage(createResponse(req, 200, 'OK', { body: Buffer.from('hi'), contentType: 'text/plain' }));
    expect([text.header('content-type'), text.body.toString()]).toEqual(['text/plain', 'hi']);
  });

  it('uses the precomputed status line for default reasons and builds others', () => {
    expect(statusLine(401, 'Unauthorized')).toBe('SIP/2.0 401 Unauthorized\r\n');
    expect(statusLine(401, 'Who are you')).toBe('SIP/2.0 401 Who are you\r\n');
    expect(statusLine(599, 'Custom')).toBe('SIP/2.0 599 Custom\r\n');
  });
});

describe('serializeMessage', () => {
  for (const name of ['register-digest', 'register-compact', 'invite-ipv6', 'options-quoted-display', 'register-star', 'response-200-register', 'invite-sdp']) {
    it(`writes ${name} back byte for byte`, () => {
      const raw = fixture('valid', name);
      expect(serializeMessage(parseMessage(raw)).equals(raw)).toBe(true);
    });
  }

  it('writes a folded message back unfolded', () => {
    const out = serializeMessage(parseMessage(fixture('valid', 'register-folded'))).toString('latin1');
    expect(out).toContain('\r\nVia: SIP/2.0/UDP 192.0.2.10:5060 ;branch=z9hG4bKfold1\r\n');
    expect(parseMessage(Buffer.from(out, 'latin1')).contacts()).toHaveLength(2);
  });
});

describe('buildRequest', () => {
  it('builds an OPTIONS probe that parses back with the given headers', () => {
    const buf = buildRequest({
      method: 'OPTIONS',
      uri: 'sip:pbx1.example.com:5060',
      headers: [`Via: SIP/2.0/UDP 192.0.2.1:5060;branch=${newBranch()}`, `From: <sip:edge@192.0.2.1>;tag=${newTag()}`, 'To: <sip:pbx1.example.com>', `Call-ID: ${newCallId()}`, 'CSeq: 1 OPTIONS', 'Max-Forwards: 70'],
    });
    const m = parseMessage(buf);
    expect([m.method, m.requestUri, m.header('content-length'), m.maxForwards, m.topVia.branch.startsWith('z9hG4bK')]).toEqual(['OPTIONS', 'sip:pbx1.example.com:5060', '0', 70, true]);
  });

  it('adds Content-Type and Content-Length for a body', () => {
    const m = parseMessage(buildRequest({ method: 'MESSAGE', uri: 'sip:a@b', headers: ['CSeq: 1 MESSAGE'], body: 'héllo', contentType: 'text/plain' }));
    expect([m.header('content-type'), m.header('content-length'), m.body.toString('utf8')]).toEqual(['text/plain', '6', 'héllo']);
  });
});

describe('random ids', () => {
  it('makes tags, branches and Call-IDs that are tokens and do not repeat', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const tag = newTag();
      const branch = newBranch();
      const callId = newCallId();
      expect(isToken(tag) && isToken(branch) && isToken(callId)).toBe(true);
      expect(branch.startsWith('z9hG4bK') && branch.length === 23).toBe(true);
      expect(tag).toHaveLength(12);
      seen.add(tag).add(branch).add(callId);
    }
    expect(seen.size).toBe(6000);
  });
});
