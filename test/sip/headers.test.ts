// Header grammar pieces on their own: URIs, name-addrs, Via, Digest credentials and challenges, list splitting.

import { describe, expect, it } from 'vitest';
import { parseUri } from '../../src/sip/uri.ts';
import { parseContact, parseNameAddr } from '../../src/sip/name-addr.ts';
import { parseVias, type ParsedVia } from '../../src/sip/via.ts';
import { formatDigestChallenge, parseChallenge, parseDigest } from '../../src/sip/digest-header.ts';
import { splitTopLevel } from '../../src/sip/split.ts';
import { SipError } from '../../src/sip/types.ts';

function vias(value: string): ParsedVia[] {
  const out: ParsedVia[] = [];
  parseVias(value, out);
  return out;
}

describe('parseUri', () => {
  it('reads user, password, host, port, params and headers of a sip URI', () => {
    const u = parseUri('sips:alice:secret@PBX.Example.com:5061;transport=TLS;lr?Subject=hi&Priority=urgent');
    expect(u).toMatchObject({ scheme: 'sips', user: 'alice', password: 'secret', host: 'pbx.example.com', port: 5061 });
    expect([...u.params]).toEqual([['transport', 'TLS'], ['lr', '']]);
    expect(u.headers).toBe('Subject=hi&Priority=urgent');
  });

  it('keeps escapes in the user part raw', () => {
    expect(parseUri('sip:%61lice@example.com').user).toBe('%61lice');
  });

  it('reads IPv4 and bracketed IPv6 hosts, storing IPv6 without brackets', () => {
    expect(parseUri('sip:192.0.2.1:5060').host).toBe('192.0.2.1');
    expect(parseUri('sip:bob@[2001:DB8::1]:5070')).toMatchObject({ host: '2001:db8::1', port: 5070 });
  });

  it('reads a tel URI into user and params', () => {
    const u = parseUri('tel:+1-201-555-0123;phone-context=example.com');
    expect([u.scheme, u.user, u.host, u.params.get('phone-context')]).toEqual(['tel', '+1-201-555-0123', '', 'example.com']);
  });

  it('answers 416 to schemes other than sip, sips and tel', () => {
    expect(() => parseUri('http://www.example.com')).toThrow(new SipError(416, 'Unsupported URI scheme'));
  });

  it.each([
    ['sip:', 'empty host'],
    ['sip:user@', 'empty host after @'],
    ['sip:host:99999', 'port out of range'],
    ['sip:host:', 'empty port'],
    ['sip:[2001:db8::1', 'unclosed IPv6'],
    ['sip:us er@host', 'space in user'],
    ['sip:user@host;', 'empty param'],
    ['sip:%zzuser@host', 'broken escape'],
    ['<sip:user@host>', 'angle brackets'],
    ['sip:user@host>', 'trailing junk'],
  ])('answers 400 to %s (%s)', (text) => {
    expect(() => parseUri(text, 'Contact URI')).toThrow(new SipError(400, 'Contact URI is malformed'));
  });
});

describe('parseNameAddr', () => {
  it('reads a quoted display name with escapes and the tag', () => {
    const na = parseNameAddr('"A \\"quoted\\" name" <sip:a@example.com>;tag=xyz', 'From');
    expect(na).toEqual({ displayName: 'A "quoted" name', uri: 'sip:a@example.com', params: new Map([['tag', 'xyz']]), tag: 'xyz' });
  });

  it('gives params after an addr-spec to the header, not the URI (RFC 3261 §20.10)', () => {
    const na = parseNameAddr('sip:a@example.com;tag=1;foo', 'To');
    expect([na.uri, na.tag, na.params.get('foo')]).toEqual(['sip:a@example.com', '1', '']);
  });

  it('keeps URI params inside <> with the URI', () => {
    const na = parseNameAddr('<sip:a@example.com;transport=tcp>;expires=60', 'Contact');
    expect([na.uri, na.params.get('expires'), na.params.has('transport')]).toEqual(['sip:a@example.com;transport=tcp', '60', false]);
  });

  it('reads token display names, with or without space before <', () => {
    expect(parseNameAddr('Alice Smith <sip:a@example.com>', 'From').displayName).toBe('Alice Smith');
    expect(parseNameAddr('Alice<sip:a@example.com>', 'From').displayName).toBe('Alice');
  });

  it.each([
    ['"unterminated <sip:a@example.com>', 'unterminated quote'],
    ['Bell, Alexander <sip:a@example.com>', 'comma in unquoted display name'],
    ['< sip:a@example.com >', 'spaces inside <>'],
    ['sip:a@example.com?Subject=x', 'URI header outside <>'],
    ['<sip:a@example.com', 'unclosed <'],
    ['<sip:a@example.com>;;', 'empty param'],
    ['<sip:a@example.com> junk', 'text after the params'],
    ['', 'empty value'],
  ])('answers 400 to %s (%s)', (value) => {
    expect(() => parseNameAddr(value, 'To')).toThrow(new SipError(400, 'To is malformed'));
  });

  it('reads Contact expires as a number and answers 400 when it is not one', () => {
    expect(parseContact('<sip:a@b>;expires=3600').expires).toBe(3600);
    expect(() => parseContact('<sip:a@b>;expires=soon')).toThrow(new SipError(400, 'Contact is malformed'));
  });
});

describe('parseVias', () => {
  it('reads several comma-separated vias with LWS around the separators', () => {
    const v = vias('SIP / 2.0 / udp host.example.com : 5060 ; branch = z9hG4bK1 ; rport , SIP/2.0/TLS [2001:db8::2]:5061;received=2001:db8::3');
    expect(v.map((x) => [x.transport, x.host, x.port, x.branch, x.hasRport])).toEqual([
      ['UDP', 'host.example.com', 5060, 'z9hG4bK1', true],
      ['TLS', '2001:db8::2', 5061, '', false],
    ]);
    expect(v[1].params.get('received')).toBe('2001:db8::3');
  });

  it('reads rport with a value as present', () => {
    expect(vias('SIP/2.0/UDP h;rport=5060;branch=z9hG4bKx')[0]).toMatchObject({ hasRport: true, branch: 'z9hG4bKx' });
  });

  it.each([
    ['SIP/2.0/UDP', 'no sent-by'],
    ['SIP/2.0 UDP host', 'missing slash'],
    ['SIP/2.0/UDPhost', 'no LWS before sent-by'],
    ['SIP/2.0/UDP host:0', 'port 0'],
    ['SIP/2.0/UDP host;;branch=1', 'empty param'],
    ['SIP/2.0/UDP host,', 'trailing comma'],
  ])('answers 400 to %s (%s)', (value) => {
    expect(() => vias(value)).toThrow(new SipError(400, 'Via is malformed'));
  });
});

describe('Digest headers', () => {
  it('reads credentials with quoted and token values, names case-insensitively', () => {
    const c = parseDigest('Digest USERNAME="bob", Realm="r", nonce="n\\"x", uri="sip:a,b", response="abc", NC=00000001, qop=auth');
    expect(c.scheme).toBe('Digest');
    expect(Object.fromEntries(c.params)).toEqual({ username: 'bob', realm: 'r', nonce: 'n"x', uri: 'sip:a,b', response: 'abc', nc: '00000001', qop: 'auth' });
  });

  it('answers 400 to credentials that are not auth-params', () => {
    for (const bad of ['Digest username', 'Digest username="unterminated', 'Digest a=1 b=2', '="x"', 'Digest a=1,'])
      expect(() => parseDigest(bad)).toThrow(new SipError(400, 'Authorization is malformed'));
  });

  it('formats a challenge that parses back to the same params', () => {
    const v = formatDigestChallenge({ realm: 'pbx "main"', nonce: 'abc', algorithm: 'SHA-256', qop: 'auth', opaque: 'o1', stale: true });
    expect(v).toBe('Digest realm="pbx \\"main\\"", nonce="abc", algorithm=SHA-256, qop="auth", opaque="o1", stale=true');
    expect(Object.fromEntries(parseChallenge(v).params)).toEqual({ realm: 'pbx "main"', nonce: 'abc', algorithm: 'SHA-256', qop: 'auth', opaque: 'o1', stale: 'true' });
    expect(formatDigestChallenge({ realm: 'r', nonce: 'n', algorithm: 'MD5', qop: 'auth' })).toBe('Digest realm="r", nonce="n", algorithm=MD5, qop="auth"');
  });
});

describe('splitTopLevel', () => {
  it('splits at commas outside quotes and angle brackets and trims each element', () => {
    expect(splitTopLevel(' "a, \\"b\\"" <sip:x@y;p=1,2>;q=1 ,<sip:z@w> ,, ')).toEqual(['"a, \\"b\\"" <sip:x@y;p=1,2>;q=1', '<sip:z@w>', '', '']);
    expect(splitTopLevel('single')).toEqual(['single']);
  });
});
