// The bytes of the responses server transactions keep for retransmissions (RFC 3261 §17.2.1, §17.2.2), copied into
// large reusable slabs. The transaction table decides what is kept and for how long; this file only stores bytes.

/**
 * Slab size. A UDP REGISTER's Timer J keeps its final response 32 s: ~800 k responses of ~600 bytes live at 12 k
 * registrations/s, i.e. ~1,800 slabs.
 */
const SLAB_BYTES = 256 * 1024;
/** Larger responses get a slab of their own (never reused); rare: responses with big bodies. */
const MAX_SHARED_BYTES = SLAB_BYTES / 8;
/** Emptied slabs waiting for reuse; beyond this they are left to the GC. */
const MAX_FREE_SLABS = 32;

/** One block of kept bytes; `live` counts the entries whose bytes are in it. */
export class Slab {
  live = 0;
  constructor(readonly buf: Buffer) {}
}

/** Where one entry's kept response is; the owner (TxEntry) holds one. */
export interface KeptRef {
  keptSlab: Slab | undefined;
  keptOffset: number;
  keptLength: number;
}

/**
 * Why not keep each response's own Buffer: every kept Buffer is a ~100-byte typed-array object that survives two
 * scavenges and is then marked by every full GC while it lives, and the 8 KiB pool slabs behind them are external
 * memory, whose steady growth makes V8 schedule extra full GCs. Here a kept response costs no object: a copy into a
 * slab, and three fields in the entry. Measured at ~770 k live UDP REGISTER transactions answered with a ~700-byte
 * 401: 13-16 µs -> 7-7.5 µs CPU per new transaction (table + response), 723 -> 583 bytes per live transaction
 * (load-tests/micro/transaction.bench.ts --live 768000). The price is a copy (~0.6 µs) per retransmitted response. Transactions end roughly in the order they were answered (Timer J is the
 * same 32 s for all), so slabs empty in order and are reused instead of allocated.
 *
 * Bytes handed out by `copy` are a fresh Buffer: a slab is rewritten once emptied, while a socket may still hold a
 * Buffer it was given (a TCP write queue, a UDP send the kernel deferred).
 */
export class KeptResponses {
  private current: Slab = newSlab(SLAB_BYTES);
  private used = 0;
  private readonly free: Slab[] = [];
  /** Responses kept now, and their bytes (for the gauges; the slabs they sit in hold at least as much). */
  count = 0;
  bytes = 0;

  /** Copies data in and points ref at it; ref must hold nothing (release first). */
  keep(ref: KeptRef, data: Buffer): void {
    const n = data.length;
    let slab: Slab;
    let offset: number;
    if (n > MAX_SHARED_BYTES) {
      slab = newSlab(n);
      offset = 0;
    } else {
      if (this.used + n > SLAB_BYTES) this.next();
      slab = this.current;
      offset = this.used;
      this.used += n;
    }
    slab.buf.set(data, offset);
    slab.live++;
    this.count++;
    this.bytes += n;
    ref.keptSlab = slab;
    ref.keptOffset = offset;
    ref.keptLength = n;
  }

  /** Forgets ref's bytes (no-op when it holds none). */
  release(ref: KeptRef): void {
    const slab = ref.keptSlab;
    if (slab === undefined) return;
    ref.keptSlab = undefined;
    this.count--;
    this.bytes -= ref.keptLength;
    if (--slab.live > 0) return;
    if (slab === this.current) this.used = 0;
    else if (slab.buf.length === SLAB_BYTES && this.free.length < MAX_FREE_SLABS) this.free.push(slab);
  }

  /** A fresh copy of ref's bytes to send, or undefined when it holds none. */
  copy(ref: KeptRef): Buffer | undefined {
    const slab = ref.keptSlab;
    if (slab === undefined) return undefined;
    const out = Buffer.allocUnsafe(ref.keptLength);
    out.set(slab.buf.subarray(ref.keptOffset, ref.keptOffset + ref.keptLength));
    return out;
  }

  /** Forgets every slab (the table is being cleared). */
  clear(): void {
    this.free.length = 0;
    this.current = newSlab(SLAB_BYTES);
    this.used = 0;
    this.count = 0;
    this.bytes = 0;
  }

  private next(): void {
    // The full slab stays alive through its entries' refs; an empty one found here would already be on the free list.
    this.current = this.free.pop() ?? newSlab(SLAB_BYTES);
    this.used = 0;
  }
}

function newSlab(size: number): Slab {
  return new Slab(Buffer.allocUnsafeSlow(size));
}
