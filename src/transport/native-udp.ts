// Loads the optional batched SIP-over-UDP I/O (src/transport/native/sip_udp.c, built by scripts/build-native.mjs into
// build/native/). Absent, unloadable or switched off (SIPEDGE_NATIVE_UDP=0): undefined, and udp.ts uses dgram instead.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { switchedOff } from '../config/io-switches.ts';

/** The addon's functions; see the comment at the top of sip_udp.c for their contracts. */
export interface NativeUdp {
  /** Bound socket: [fd, family (4|6), port, address]; throws an Error with `code` (EADDRINUSE, ...). */
  open(host: string, port: number, recvBufferBytes: number, sendBufferBytes: number): [number, 4 | 6, number, string];
  /**
   * Calls onReadable(0, false) from the event loop while fd is readable; keeps the loop alive until unwatch. A failed
   * poll calls onReadable(status < 0, stopped): watched again unless `stopped` (then nothing arrives any more).
   */
  watch(fd: number, onReadable: (status: number, stopped: boolean) => void): object;
  unwatch(handle: object): void;
  close(fd: number): void;
  /** Up to max (<= 64) datagrams into buf (stride bytes each), 8 int32 of meta each; 0 when none, -errno on error. */
  recv(fd: number, buf: Uint8Array, stride: number, meta: Int32Array, max: number): number;
  /**
   * count (data, port, address) triples of queue, sent with sendmmsg; returns how many were dropped and adds them to
   * drops: [0] no room in the socket buffer, [1] refused by the kernel, [2] not a datagram. Never throws for an entry.
   */
  send(fd: number, family: 4 | 6, queue: unknown[], count: number, drops: Int32Array): number;
}

const ADDON = fileURLToPath(new URL('../../build/native/sip_udp.node', import.meta.url));
const FUNCTIONS = ['open', 'watch', 'unwatch', 'close', 'recv', 'send'] as const;

function load(): { udp: NativeUdp } | { error: string } {
  const off = switchedOff('nativeUdp');
  if (off !== undefined) return { error: off };
  if (!existsSync(ADDON)) return { error: `${ADDON} not built (node scripts/build-native.mjs)` };
  try {
    const mod = createRequire(import.meta.url)(ADDON) as Record<string, unknown>;
    const missing = FUNCTIONS.find((f) => typeof mod[f] !== 'function');
    if (missing !== undefined) return { error: `${ADDON} has no ${missing}` };
    return { udp: mod as unknown as NativeUdp };
  } catch (err) {
    return { error: `${ADDON} did not load: ${err instanceof Error ? err.message : String(err)}` };
  }
}

const loaded = load();

/** The native UDP I/O, or undefined (see nativeUdpError for why). */
export const nativeUdp: NativeUdp | undefined = 'udp' in loaded ? loaded.udp : undefined;
/** Why the native UDP I/O is not in use; undefined when it is. */
export const nativeUdpError: string | undefined = 'error' in loaded ? loaded.error : undefined;
