// Digest arithmetic against the RFCs' worked examples (RFC 2617 §3.5, RFC 7616 §3.9.1) and the constant-time check.
// The authenticator's use of it (credential choice, nc, lockout) is tested in authenticator.test.ts.
import { describe, expect, it } from 'vitest';
import { computeResponse, ha1, ha2, parseDigestAlgorithm, verifyResponse, type ResponseInput } from '../../src/auth/digest.ts';

const rfc2617: ResponseInput = {
  algorithm: 'MD5',
  ha1: ha1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life'),
  method: 'GET',
  uri: '/dir/index.html',
  nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
  nc: '00000001',
  cnonce: '0a4f113b',
  qop: 'auth',
};

// RFC 7616 §3.9.1; note the password is "Circle of Life" there (erratum 4495), not RFC 2617's "Circle Of Life".
function rfc7616(algorithm: 'MD5' | 'SHA-256'): ResponseInput {
  return {
    algorithm,
    ha1: ha1(algorithm, 'Mufasa', 'http-auth@example.org', 'Circle of Life'),
    method: 'GET',
    uri: '/dir/index.html',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    nc: '00000001',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    qop: 'auth',
  };
}

describe('digest response', () => {
  it('reproduces the RFC 2617 §3.5 example response', () => {
    expect(computeResponse(rfc2617)).toBe('6629fae49393a05397450978507c4ef1');
  });

  it('reproduces the RFC 7616 §3.9.1 MD5 and SHA-256 responses', () => {
    expect(computeResponse(rfc7616('MD5'))).toBe('8ca523f5e9506fed4657c9700eebdbec');
    expect(computeResponse(rfc7616('SHA-256'))).toBe('753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  });

  it('computes the RFC 2069 form (no qop) as H(HA1:nonce:HA2)', () => {
    const legacy = { ...rfc2617, ha1: ha1('MD5', 'Mufasa', 'testrealm@host.com', 'CircleOfLife'), qop: undefined };
    // RFC 2069 §2.4 example response.
    expect(computeResponse(legacy)).toBe('1949323746fe6a43ef61f9606e7febea');
  });

  it('gives the same response with a precomputed HA2', () => {
    const input = rfc7616('SHA-256');
    expect(computeResponse({ ...input, ha2: ha2('SHA-256', 'GET', '/dir/index.html') })).toBe(computeResponse(input));
  });

  it('accepts the right response in either hex case and refuses anything else', () => {
    const input = rfc7616('SHA-256');
    const good = '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1';
    expect(verifyResponse(input, good)).toBe(true);
    expect(verifyResponse(input, good.toUpperCase())).toBe(true);
    expect(verifyResponse(input, `${good.slice(0, -1)}0`)).toBe(false);
    expect(verifyResponse(input, good.slice(0, 32))).toBe(false);
    expect(verifyResponse(input, `${good.slice(0, -2)}zz`)).toBe(false);
    expect(verifyResponse(input, '')).toBe(false);
    expect(verifyResponse({ ...input, uri: '/other' }, good)).toBe(false);
    expect(verifyResponse({ ...input, nc: '00000002' }, good)).toBe(false);
  });

  it('refuses a response of the other algorithm', () => {
    expect(verifyResponse(rfc7616('SHA-256'), '8ca523f5e9506fed4657c9700eebdbec')).toBe(false);
    expect(verifyResponse(rfc7616('MD5'), '8ca523f5e9506fed4657c9700eebdbec')).toBe(true);
  });
});

describe('algorithm parameter', () => {
  it('reads an absent algorithm as MD5 and matches names case-insensitively', () => {
    expect(parseDigestAlgorithm(undefined)).toBe('MD5');
    expect(parseDigestAlgorithm('md5')).toBe('MD5');
    expect(parseDigestAlgorithm('sha-256')).toBe('SHA-256');
  });

  it('does not offer the -sess variants or SHA-512-256', () => {
    expect(parseDigestAlgorithm('MD5-sess')).toBeUndefined();
    expect(parseDigestAlgorithm('SHA-256-sess')).toBeUndefined();
    expect(parseDigestAlgorithm('SHA-512-256')).toBeUndefined();
  });
});
