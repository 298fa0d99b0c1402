// KeptResponses: kept bytes come back identical until released, slabs are reused once emptied, copies are independent.
import { describe, expect, it } from 'vitest';
import { KeptResponses, type KeptRef } from '../../src/transaction/kept-responses.ts';

const ref = (): KeptRef => ({ keptSlab: undefined, keptOffset: 0, keptLength: 0 });
const bytes = (i: number, n = 600) => Buffer.from(`SIP/2.0 401 Unauthorized ${i} `.padEnd(n, String.fromCharCode(65 + (i % 26))), 'latin1');
/** latin1 text of a Buffer (undefined stays undefined): fast to compare, readable when it differs. */
const t = (b: Buffer | undefined) => b?.toString('latin1');

describe('KeptResponses', () => {
  it('returns each kept response byte for byte, across many slabs, until released', () => {
    const kept = new KeptResponses();
    const refs = Array.from({ length: 3000 }, (_, i) => {
      const r = ref();
      kept.keep(r, bytes(i, 200 + (i % 700)));
      return r;
    });
    for (let i = 0; i < refs.length; i += 2) kept.release(refs[i]);
    // Reuse of emptied slabs must not disturb the ones still kept.
    const more = Array.from({ length: 3000 }, (_, i) => {
      const r = ref();
      kept.keep(r, bytes(10_000 + i));
      return r;
    });
    for (let i = 0; i < refs.length; i++) {
      if (i % 2 === 0) expect(kept.copy(refs[i])).toBeUndefined();
      else expect(t(kept.copy(refs[i]))).toBe(t(bytes(i, 200 + (i % 700))));
    }
    for (let i = 0; i < more.length; i++) expect(t(kept.copy(more[i]))).toBe(t(bytes(10_000 + i)));
  });

  it('hands out copies (a socket may hold them after the slab is reused), and keeps large responses apart', () => {
    const kept = new KeptResponses();
    const r = ref();
    kept.keep(r, bytes(1));
    const out = kept.copy(r)!;
    kept.release(r);
    kept.release(r); // twice is harmless
    for (let i = 0; i < 1000; i++) kept.keep(ref(), bytes(2));
    expect(t(out)).toBe(t(bytes(1)));
    const big = ref();
    kept.keep(big, bytes(3, 200_000));
    expect(t(kept.copy(big))).toBe(t(bytes(3, 200_000)));
  });
});
