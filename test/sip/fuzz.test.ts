// Mutated and truncated fixtures fed to the parser and every accessor: each returns or throws SipError, never
// another error, so that a malformed datagram costs one counted answer or drop and never the process.

import { describe, expect, it } from 'vitest';
import { parseMessage, validateRequest } from '../../src/sip/parser.ts';
import { createResponse } from '../../src/sip/response.ts';
import { serializeMessage } from '../../src/sip/request.ts';
import { parseUri } from '../../src/sip/uri.ts';
import { SipError, type SipMessage } from '../../src/sip/types.ts';
import { fixture, fixtureNames, type FixtureDir } from './fixture.ts';
import { rng } from '../helpers/rng.ts';

const SPECIAL = Buffer.from(':;,"<>\\%[]@= \t\r\n\0/?*').toJSON().data.concat([0x7f, 0xff, 0x80]);

function mutate(src: Buffer, rand: () => number): Buffer {
  const bytes = [...src];
  const edits = 1 + Math.floor(rand() * 6);
  for (let e = 0; e < edits; e++) {
    const pos = Math.floor(rand() * (bytes.length + 1));
    const kind = Math.floor(rand() * 6);
    if (kind === 0) bytes[pos] = Math.floor(rand() * 256);
    else if (kind === 1) bytes.splice(pos, 0, SPECIAL[Math.floor(rand() * SPECIAL.length)]);
    else if (kind === 2) bytes.splice(pos, 1 + Math.floor(rand() * 12));
    else if (kind === 3) bytes.length = Math.min(bytes.length, pos);
    else if (kind === 4) bytes.splice(pos, 0, ...bytes.slice(pos, pos + Math.floor(rand() * 40)));
    else bytes.splice(pos, 0, 0x0d, 0x0a, rand() < 0.5 ? 0x20 : 0x3a);
  }
  return Buffer.from(bytes);
}

/** Every way the layers above read a message. */
function touchEverything(m: SipMessage): void {
  const steps: Array<() => unknown> = [
    () => m.vias(),
    () => m.topVia,
    () => m.callId,
    () => m.cseq,
    () => m.from,
    () => m.to,
    () => parseUri(m.from.uri, 'From URI'),
    () => parseUri(m.to.uri, 'To URI'),
    () => m.maxForwards,
    () => m.expires,
    () => m.contacts().map((c) => (c.isStar ? c : parseUri(c.uri, 'Contact URI'))),
    () => m.credentials(),
    () => m.credentials(true),
    () => m.userAgent,
    () => m.ruri,
    () => m.headerValues('route'),
    () => m.fields(),
    () => validateRequest(m),
  ];
  for (const step of steps) {
    try {
      step();
    } catch (e) {
      if (!(e instanceof SipError)) throw e;
    }
  }
  if (m.isRequest) {
    m.source = { address: '198.51.100.9', port: 5062, transport: 'udp', flowId: 'fuzz' };
    createResponse(m, 400, 'Bad Request', { toTag: 'fz' }); // answering a bad request must never throw
  }
  serializeMessage(m);
}

describe('fuzzed messages', () => {
  const sources: Buffer[] = (['valid', 'invalid', 'rfc4475'] as FixtureDir[]).flatMap((d) => fixtureNames(d).map((n) => fixture(d, n)));

  it('returns a message or throws SipError for 6000 mutated fixtures, never another error', () => {
    const rand = rng(4475);
    const outcomes = { parsed: 0, rejected: 0 };
    for (let i = 0; i < 6000; i++) {
      const input = mutate(sources[i % sources.length], rand);
      let m: SipMessage;
      try {
        m = parseMessage(input);
      } catch (e) {
        if (!(e instanceof SipError)) throw new Error(`iteration ${i}: ${String(e)} for ${JSON.stringify(input.toString('latin1'))}`);
        expect(e.status === 400 || e.status === 505).toBe(true);
        outcomes.rejected++;
        continue;
      }
      try {
        touchEverything(m);
      } catch (e) {
        throw new Error(`iteration ${i}: ${String(e)} for ${JSON.stringify(input.toString('latin1'))}`);
      }
      outcomes.parsed++;
    }
    // Both paths get exercised: a fuzz run that only ever rejects tests nothing past the first line.
    expect(outcomes.parsed).toBeGreaterThan(1000);
    expect(outcomes.rejected).toBeGreaterThan(1000);
  });

  it('survives every truncation of a REGISTER with Authorization', () => {
    const src = fixture('valid', 'register-digest');
    for (let len = 0; len <= src.length; len++) {
      try {
        touchEverything(parseMessage(src.subarray(0, len)));
      } catch (e) {
        if (!(e instanceof SipError)) throw new Error(`length ${len}: ${String(e)}`);
      }
    }
  });
});
