// Loads raw SIP fixtures (CRLF kept) from test/fixtures/sip/{valid,invalid,rfc4475}.
// Only file access lives here; each test asserts on what a phone would see.

import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type FixtureDir = 'valid' | 'invalid' | 'rfc4475';

const root = fileURLToPath(new URL('../fixtures/sip/', import.meta.url));

/** The bytes of test/fixtures/sip/<dir>/<name>.sip. */
export function fixture(dir: FixtureDir, name: string): Buffer {
  return readFileSync(`${root}${dir}/${name}.sip`);
}

/** Names (without .sip) of every fixture in dir. */
export function fixtureNames(dir: FixtureDir): string[] {
  return readdirSync(`${root}${dir}`)
    .filter((f) => f.endsWith('.sip'))
    .map((f) => f.slice(0, -4))
    .sort();
}

/** A message from CRLF-joined lines plus the blank line and an optional body. */
export function sip(lines: string[], body = ''): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'latin1');
}
