// The accessors parse header values in place in the raw message (bounded offsets, no slice first) and createResponse
// reuses the cached top Via: these pin the edges where a bounded scan could read past its value.

import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/sip/parser.ts';
import { createResponse } from '../../src/sip/response.ts';
import { SipError } from '../../src/sip/types.ts';
import { sip } from './fixture.ts';

const head = ['REGISTER sip:pbx.example.com SIP/2.0', 'Call-ID: c1', 'CSeq: 1 REGISTER'];
const src = { address: '203.0.113.5', port: 40123, transport: 'udp', flowId: 'u' };

describe('bounded parsing of values inside the raw message', () => {
  it('does not let a quote, bracket or param run on into the next header line', () => {
    const m = parseMessage(sip([...head, 'From: "unterminated <sip:a@b>', 'To: "x" <sip:b@c>;tag=1', 'Contact: <sip:a@b', 'X: >"']));
    expect(() => m.from).toThrow(new SipError(400, 'From is malformed'));
    expect(m.to.tag).toBe('1');
    expect(() => m.contacts()).toThrow(new SipError(400, 'Contact is malformed'));
  });

  it('rejects an Authorization whose quoted value closes only in a later header', () => {
    const m = parseMessage(sip([...head, 'Authorization: Digest username="1001', 'X-Q: a"b']));
    expect(() => m.credentials()).toThrow(new SipError(400, 'Authorization is malformed'));
  });

  it('rejects a Call-ID with a space but not one followed by a header with spaces', () => {
    expect(parseMessage(sip([...head.slice(0, 1), 'Call-ID: abc@h', 'CSeq: 1 REGISTER'])).callId).toBe('abc@h');
    expect(() => parseMessage(sip([...head.slice(0, 1), 'Call-ID: a\tb', 'CSeq: 1 REGISTER'])).callId).toThrow(SipError);
  });

  it('reads parameter names in any case and keeps values as written', () => {
    const m = parseMessage(sip([...head, 'Via: SIP/2.0/udp h;BRANCH=z9hG4bKx;RPort', 'Contact: <sip:a@b>;EXPIRES=60;Reg-Id=2', 'Authorization: digest USERNAME="u", Realm=r']));
    expect([m.topVia.transport, m.topVia.branch, m.topVia.hasRport]).toEqual(['UDP', 'z9hG4bKx', true]);
    expect([m.contacts()[0].expires, m.contacts()[0].params.get('reg-id')]).toEqual([60, '2']);
    const [c] = m.credentials();
    expect([c.scheme, c.params.get('username'), c.params.get('realm')]).toEqual(['digest', 'u', 'r']);
  });

  it('trims Contact elements as String.prototype.trim does (NBSP included)', () => {
    const m = parseMessage(Buffer.from([...head, 'Contact: \xa0<sip:a@b>\xa0, <sip:c@d>', '', ''].join('\r\n'), 'latin1'));
    expect(m.contacts().map((c) => c.uri)).toEqual(['sip:a@b', 'sip:c@d']);
  });

  it('returns the same cached array from headerValues for a known header', () => {
    const m = parseMessage(sip([...head, 'Supported: path, outbound', 'k: gruu']));
    expect(m.headerValues('supported')).toEqual(['path', 'outbound', 'gruu']);
    expect(m.headerValues('Supported')).toBe(m.headerValues('k'));
    expect(m.headerValues('require')).toEqual([]);
  });
});

describe('createResponse with and without the cached top Via', () => {
  for (const via of ['SIP/2.0/UDP h1;RPORT ;branch=z9hG4bK1', 'SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK1', 'SIP/2.0/UDP h1;rport=9;received=x', 'SIP/2.0/UDP h1;x="a;rport";rport']) {
    it(`writes the same Via for "${via}" whether or not topVia was read first`, () => {
      const lines = [...head, `Via: ${via}`, 'Via: SIP/2.0/UDP h2;branch=z9hG4bK2', 'From: <sip:a@b>;tag=f', 'To: <sip:a@b>'];
      const cold = parseMessage(sip(lines));
      cold.source = src;
      const warm = parseMessage(sip(lines));
      warm.source = src;
      void warm.topVia;
      const a = createResponse(cold, 200, 'OK', { toTag: 't' }).toString('latin1');
      expect(createResponse(warm, 200, 'OK', { toTag: 't' }).toString('latin1')).toBe(a);
    });
  }

  it('fills a bare rport written in upper case', () => {
    const m = parseMessage(sip([...head, 'Via: SIP/2.0/UDP h1;RPORT ;branch=z9hG4bK1']));
    m.source = src;
    expect(createResponse(m, 200, 'OK').toString('latin1')).toContain('Via: SIP/2.0/UDP h1;RPORT=40123 ;branch=z9hG4bK1;received=203.0.113.5\r\n');
  });
});
