// Loads the optional batched SIP-over-UDP I/O (src/transport/native/sip_udp.c, built by scripts/build-native.mjs into
// build/native/). Absent, unloadable or disabled (SIPEDGE_NATIVE_UDP=0): undefined, and udp.ts uses dgram instead.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The addon's functions; see the comment at the top of sip_udp.c for their contracts. */
export interface NativeUdp {
  /** Bound socket: [fd, family (4|6), port, address]; throws an Error with `code` (EADDRINUSE, ...). */
  open(host: string, port: number, recvBufferBytes: number, sendBufferBytes: number): [number, 4 | 6, number, string];
  /** Calls onReadable from the event loop while fd is readable; keeps the loop alive until unwatch. */
  watch(fd: number, onReadable: () => void): object;
  unwatch(handle: object): void;
  close(fd: number): void;
  /** Up to max (<= 64) datagrams into buf (stride bytes each), 8 int32 of meta each; 0 when none, -errno on error. */
  recv(fd: number, buf: Uint8Array, stride: number, meta: Int32Array, max: number): number;
  /** count (data, port, address) triples of queue, sent with sendmmsg; returns how many the kernel refused. */
  send(fd: number, family: 4 | 6, queue: unknown[], count: number): number;
}

const ADDON = fileURLToPath(new URL('../../build/native/sip_udp.node', import.meta.url));
const FUNCTIONS = ['open', 'watch', 'unwatch', 'close', 'recv', 'send'] as const;

function load(): { udp: NativeUdp } | { error: string } {
  if (process.env.SIPEDGE_NATIVE_UDP === '0') return { error: 'disabled by SIPEDGE_NATIVE_UDP=0' };
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
