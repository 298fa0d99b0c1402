// All 49 RFC 4475 torture messages, each with the outcome the edge gives it: accepted (key fields checked),
// rejected by parseMessage with a status, or accepted by the parser with one accessor (or validateRequest) answering.

import { describe, expect, it } from 'vitest';
import { parseMessage, validateRequest } from '../../src/sip/parser.ts';
import { parseUri } from '../../src/sip/uri.ts';
import { SipError, type SipMessage } from '../../src/sip/types.ts';
import { fixture, fixtureNames } from './fixture.ts';

type Outcome =
  /** Parses, validates (requests), and the check holds. */
  | { kind: 'ok'; check: (m: SipMessage) => void }
  /** parseMessage throws SipError with this status (for responses: a counted drop). */
  | { kind: 'reject'; status: number; reason: string }
  /**
   * parseMessage succeeds; the named step throws SipError with this status. validateRequest gives the same answer
   * unless early is false: then a later reader (the registrar reading contacts(), say) is the one that answers.
   */
  | { kind: 'answer'; step: string; run: (m: SipMessage) => unknown; status: number; early?: false };

function statusOf(fn: () => unknown): number | 'no error' {
  try {
    fn();
  } catch (e) {
    if (e instanceof SipError) return e.status;
    throw e;
  }
  return 'no error';
}

const validate = (m: SipMessage): void => validateRequest(m);
const latin1ToUtf8 = (s: string): string => Buffer.from(s, 'latin1').toString('utf8');

const table: Record<string, { section: string; outcome: Outcome }> = {
  // §3.1.1 Valid messages
  wsinv: {
    section: '3.1.1.1 short tortuous INVITE',
    outcome: {
      kind: 'ok',
      check: (m) => {
        expect(m.method).toBe('INVITE');
        expect(m.to.tag).toBe('1918181833n');
        expect(m.from.displayName).toBe('J Rosenberg \\"');
        expect(m.from.tag).toBe('98asjd8');
        expect(m.maxForwards).toBe(68);
        expect(m.cseq).toEqual({ seq: 9, method: 'INVITE' });
        expect(m.vias().map((v) => [v.transport, v.host, v.branch])).toEqual([
          ['UDP', '192.0.2.2', '390skdjuw'],
          ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
          ['UDP', '192.168.255.111', 'z9hG4bK30239'],
        ]);
        expect(m.header('subject')).toBe('');
        expect(m.header('NewFangledHeader')).toBe('newfangled value continued newfangled value');
        expect(m.header('UnknownHeaderWithUnusualValue')).toBe(';;,,;;,;');
        const [c] = m.contacts();
        expect(c.displayName).toBe('Quoted string ""');
        expect([...c.params]).toEqual([['newparam', 'newvalue'], ['secondparam', ''], ['q', '0.33']]);
        expect(m.ruri.params.get('unknownparam')).toBe('');
        expect(m.body.length).toBe(150);
      },
    },
  },
  intmeth: {
    section: '3.1.1.2 wide range of valid characters',
    outcome: {
      kind: 'ok',
      check: (m) => {
        expect(m.method).toBe("!interesting-Method0123456789_*+`.%indeed'~");
        expect(m.ruri.user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
        expect(m.ruri.password).toBe("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
        expect(m.to.displayName).toBe('BEL:\x07 NUL:\x00 DEL:\x7F');
        expect(m.from.displayName).toBe("token1~` token2'+_ token3*%!.-");
        expect(m.from.tag).toBe("_token~1'+`*%!-.");
        expect(latin1ToUtf8(m.from.params.get("fromparam''~+*_!.-%") ?? '')).toBe('"работающий"');
        expect(m.callId).toBe("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
        expect(m.topVia.branch).toBe("z9hG4bK-.!%66*_+`'~");
        expect(latin1ToUtf8(m.header("extensionHeader-!.%*+_`'~") ?? '')).toBe('\uFEFF大停電');
      },
    },
  },
  esc01: {
    section: '3.1.1.3 valid use of % escaping',
    outcome: {
      kind: 'ok',
      check: (m) => {
        expect(m.ruri.user).toBe('sips%3Auser%40example.com');
        expect(parseUri(m.to.uri, 'To').user).toBe('%75se%72');
        const contact = parseUri(m.contacts()[0].uri, 'Contact');
        expect(contact.params.get('%6c%72')).toBe('');
        expect(contact.params.get('n%61me')).toBe('v%61lue%25%34%31');
      },
    },
  },
  escnull: {
    section: '3.1.1.4 escaped nulls in URIs',
    outcome: { kind: 'ok', check: (m) => expect(m.contacts().map((c) => parseUri(c.uri).user)).toEqual(['%00', '%00%00']) },
  },
  esc02: {
    section: '3.1.1.5 % that is not an escape',
    outcome: {
      kind: 'ok',
      check: (m) => {
        expect(m.method).toBe('RE%47IST%45R');
        expect(m.to.displayName).toBe('%Z%45');
        expect(m.contacts().map((c) => c.uri)).toEqual(['sip:alias1@host1.example.com', 'sip:alias3@host3.example.com']);
        expect(m.header('C%6Fntact')).toBe('<sip:alias2@host2.example.com>');
      },
    },
  },
  lwsdisp: {
    section: '3.1.1.6 no LWS between display name and <',
    outcome: { kind: 'ok', check: (m) => expect([m.from.displayName, m.from.uri]).toEqual(['caller', 'sip:caller@example.com']) },
  },
  longreq: {
    section: '3.1.1.7 long values in header fields',
    outcome: {
      kind: 'ok',
      check: (m) => {
        expect(m.vias()).toHaveLength(34);
        expect(m.vias()[0].host).toBe('sip33.example.com');
        expect(m.vias()[33].params.get('received')).toBe('192.0.2.5');
        expect(parseUri(m.to.uri, 'To').port).toBe(6000);
        expect(m.from.tag).toHaveLength(155);
        expect(m.body.length).toBe(150);
      },
    },
  },
  dblreq: {
    section: '3.1.1.8 extra trailing octets in a UDP datagram',
    outcome: { kind: 'ok', check: (m) => expect([m.method, m.body.length, m.callId]).toEqual(['REGISTER', 0, 'dblreq.0ha0isndaksdj99sdfafnl3lk233412']) },
  },
  semiuri: {
    section: '3.1.1.9 semicolon-separated parameters in URI user part',
    outcome: {
      kind: 'ok',
      check: (m) => {
        expect(m.ruri.user).toBe('user;par=u%40example.net');
        expect(m.ruri.host).toBe('example.com');
        expect(m.headerValues('accept')).toHaveLength(6);
      },
    },
  },
  transports: {
    section: '3.1.1.10 varied and unknown transport types',
    outcome: { kind: 'ok', check: (m) => expect(m.vias().map((v) => v.transport)).toEqual(['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']) },
  },
  mpart01: {
    section: '3.1.1.11 multipart MIME message',
    outcome: {
      kind: 'ok',
      check: (m) => {
        expect(m.body.length).toBe(553);
        expect(m.body.includes(Buffer.from([0x95, 0x00, 0x71]))).toBe(true);
        expect([m.topVia.port, m.topVia.hasRport]).toEqual([5070, true]);
        expect(m.userAgent).toBe('SIPimp.org/0.2.5 (curses)');
      },
    },
  },
  unreason: {
    section: '3.1.1.12 unusual reason phrase',
    outcome: { kind: 'ok', check: (m) => expect([m.status, latin1ToUtf8(m.reason)]).toEqual([200, '= 2**3 * 5**2 но сто девяносто девять - простое']) },
  },
  noreason: {
    section: '3.1.1.13 empty reason phrase',
    outcome: { kind: 'ok', check: (m) => expect([m.status, m.reason]).toEqual([100, '']) },
  },

  // §3.1.2 Invalid messages
  badinv01: { section: '3.1.2.1 extraneous header field separators', outcome: { kind: 'answer', step: 'topVia', run: (m) => m.topVia, status: 400 } },
  clerr: { section: '3.1.2.2 Content-Length larger than message', outcome: { kind: 'reject', status: 400, reason: 'Content-Length is larger than the body' } },
  ncl: { section: '3.1.2.3 negative Content-Length', outcome: { kind: 'reject', status: 400, reason: 'Content-Length is malformed' } },
  scalar02: { section: '3.1.2.4 request scalar fields with overlarge values', outcome: { kind: 'answer', step: 'cseq', run: (m) => m.cseq, status: 400 } },
  scalarlg: { section: '3.1.2.5 response scalar fields with overlarge values', outcome: { kind: 'answer', step: 'cseq (drop)', run: (m) => m.cseq, status: 400 } },
  quotbal: { section: '3.1.2.6 unterminated quoted string in display name', outcome: { kind: 'answer', step: 'to', run: (m) => m.to, status: 400 } },
  ltgtruri: { section: '3.1.2.7 <> enclosing Request-URI', outcome: { kind: 'reject', status: 400, reason: 'Request-URI is malformed' } },
  lwsruri: { section: '3.1.2.8 malformed SIP Request-URI (embedded LWS)', outcome: { kind: 'reject', status: 400, reason: 'Request-Line is malformed' } },
  lwsstart: { section: '3.1.2.9 multiple SP separating Request-Line elements', outcome: { kind: 'reject', status: 400, reason: 'Request-Line is malformed' } },
  trws: { section: '3.1.2.10 SP characters at end of Request-Line', outcome: { kind: 'reject', status: 400, reason: 'Request-Line is malformed' } },
  escruri: { section: '3.1.2.11 escaped headers in SIP Request-URI', outcome: { kind: 'answer', step: 'validateRequest', run: validate, status: 400 } },
  baddate: {
    section: '3.1.2.12 invalid time zone in Date header field',
    // The edge never reads Date, so it accepts the request as RFC 4475 allows.
    outcome: { kind: 'ok', check: (m) => expect(m.header('date')).toBe('Fri, 01 Jan 2010 16:00:00 EST') },
  },
  regbadct: { section: '3.1.2.13 failure to enclose name-addr URI in <>', outcome: { kind: 'answer', step: 'contacts', run: (m) => m.contacts(), status: 400, early: false } },
  badaspec: { section: '3.1.2.14 spaces within addr-spec', outcome: { kind: 'answer', step: 'to', run: (m) => m.to, status: 400 } },
  baddn: { section: '3.1.2.15 non-token characters in display name', outcome: { kind: 'answer', step: 'from', run: (m) => m.from, status: 400 } },
  badvers: { section: '3.1.2.16 unknown protocol version', outcome: { kind: 'reject', status: 505, reason: 'Version Not Supported' } },
  mismatch01: { section: '3.1.2.17 start line and CSeq method mismatch', outcome: { kind: 'answer', step: 'validateRequest', run: validate, status: 400 } },
  mismatch02: { section: '3.1.2.18 unknown method with CSeq method mismatch', outcome: { kind: 'answer', step: 'validateRequest', run: validate, status: 400 } },
  bigcode: { section: '3.1.2.19 overlarge response code', outcome: { kind: 'reject', status: 400, reason: 'Status-Line is malformed' } },

  // §3.2 Transaction layer semantics
  badbranch: {
    section: '3.2.1 missing transaction identifier',
    outcome: { kind: 'ok', check: (m) => expect(m.topVia.branch).toBe('z9hG4bK') },
  },

  // §3.3 Application layer semantics
  insuf: { section: '3.3.1 missing required header fields', outcome: { kind: 'answer', step: 'validateRequest', run: validate, status: 400 } },
  unkscm: { section: '3.3.2 Request-URI with unknown scheme', outcome: { kind: 'answer', step: 'validateRequest', run: validate, status: 416 } },
  novelsc: { section: '3.3.3 Request-URI with known but atypical scheme', outcome: { kind: 'answer', step: 'validateRequest', run: validate, status: 416 } },
  unksm2: { section: '3.3.4 unknown URI schemes in header fields', outcome: { kind: 'answer', step: 'parseUri(to.uri)', run: (m) => parseUri(m.to.uri, 'To'), status: 416, early: false } },
  bext01: {
    section: '3.3.5 proxy-require and require',
    outcome: { kind: 'ok', check: (m) => expect(m.headerValues('require')).toEqual(['nothingSupportsThis', 'nothingSupportsThisEither']) },
  },
  invut: {
    section: '3.3.6 unknown content-type',
    outcome: { kind: 'ok', check: (m) => expect([m.header('content-type'), m.body.length]).toEqual(['application/unknownformat', 40]) },
  },
  regaut01: {
    section: '3.3.7 unknown authorization scheme',
    outcome: {
      kind: 'ok',
      check: (m) => expect(m.credentials().map((c) => [c.scheme, [...c.params]])).toEqual([['NoOneKnowsThisScheme', [['opaque-data', 'here']]]]),
    },
  },
  multi01: { section: '3.3.8 multiple values in single-value header fields', outcome: { kind: 'answer', step: 'callId', run: (m) => m.callId, status: 400 } },
  mcl01: { section: '3.3.9 multiple Content-Length values', outcome: { kind: 'reject', status: 400, reason: 'Content-Length appears with different values' } },
  bcast: {
    section: '3.3.10 200 OK response with broadcast Via header field value',
    outcome: { kind: 'ok', check: (m) => expect(m.vias().map((v) => v.host)).toEqual(['192.0.2.198', '255.255.255.255']) },
  },
  zeromf: { section: '3.3.11 Max-Forwards of zero', outcome: { kind: 'ok', check: (m) => expect(m.maxForwards).toBe(0) } },
  cparam01: {
    section: '3.3.12 REGISTER with a contact header parameter',
    outcome: {
      kind: 'ok',
      check: (m) => {
        const [c] = m.contacts();
        expect(c.uri).toBe('sip:+19725552222@gw1.example.net');
        expect(c.params.get('unknownparam')).toBe('');
      },
    },
  },
  cparam02: {
    section: '3.3.13 REGISTER with a URL parameter',
    outcome: {
      kind: 'ok',
      check: (m) => {
        const [c] = m.contacts();
        expect(c.uri).toBe('sip:+19725552222@gw1.example.net;unknownparam');
        expect(c.params.size).toBe(0);
      },
    },
  },
  regescrt: {
    section: '3.3.14 REGISTER with a URL escaped header',
    outcome: { kind: 'ok', check: (m) => expect(parseUri(m.contacts()[0].uri).headers).toBe('Route=%3Csip:sip.example.com%3E') },
  },
  sdp01: {
    section: '3.3.15 unacceptable Accept offering',
    outcome: { kind: 'ok', check: (m) => expect(m.header('accept')).toBe('text/nobodyKnowsThis') },
  },

  // §3.4 Backward compatibility
  inv2543: {
    section: '3.4.1 INVITE with RFC 2543 syntax',
    outcome: {
      kind: 'ok',
      check: (m) => {
        expect(m.topVia.branch).toBe('');
        expect(m.from.tag).toBeUndefined();
        expect(m.maxForwards).toBeUndefined();
        expect(m.body.toString('latin1')).toMatch(/^v=0\r\n[\s\S]*m=audio 49217 RTP\/AVP 0\r\n$/);
      },
    },
  },
};

describe('RFC 4475 torture messages', () => {
  it('has an outcome for every one of the 49 messages and a fixture for each', () => {
    expect(Object.keys(table)).toHaveLength(49);
    expect(fixtureNames('rfc4475')).toEqual(Object.keys(table).sort());
  });

  for (const [name, { section, outcome }] of Object.entries(table)) {
    if (outcome.kind === 'ok') {
      it(`accepts ${name} (§${section})`, () => {
        const m = parseMessage(fixture('rfc4475', name));
        if (m.isRequest) validateRequest(m);
        outcome.check(m);
      });
    } else if (outcome.kind === 'reject') {
      it(`answers ${outcome.status} to ${name} before reading any header (§${section})`, () => {
        let err: unknown;
        try {
          parseMessage(fixture('rfc4475', name));
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(SipError);
        expect([(err as SipError).status, (err as SipError).reason]).toEqual([outcome.status, outcome.reason]);
      });
    } else {
      it(`parses ${name} but answers ${outcome.status} from ${outcome.step} (§${section})`, () => {
        const m = parseMessage(fixture('rfc4475', name));
        expect(statusOf(() => outcome.run(m))).toBe(outcome.status);
        if (m.isRequest) expect(statusOf(() => validateRequest(m))).toBe(outcome.early === false ? 'no error' : outcome.status);
      });
    }
  }
});
