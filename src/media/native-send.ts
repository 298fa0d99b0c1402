// Loads the optional batched RTP send (src/media/native/rtp_send.c, built by scripts/build-native.mjs into
// build/native/). Absent, unloadable or switched off (SIPEDGE_NATIVE_RTP=0): undefined, and the scheduler sends through
// dgram instead.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { switchedOff } from '../config/io-switches.ts';

/**
 * Sends packet i (packets[i*stride ..+lengths[i]]) on socket fds[i] for i < count, errors[i] = 0 or the errno;
 * returns how many were sent. Never blocks (MSG_DONTWAIT). Each fds[i] must still be its stream's open socket when
 * this runs (a closed and reused descriptor would send on another socket): fill and send a batch within one
 * synchronous stretch of code in which no RTP socket closes (rtp_send.c: descriptor lifetime).
 */
export type SendBatch = (fds: Int32Array, packets: Uint8Array, stride: number, lengths: Int32Array, count: number, errors: Int32Array) => number;

const ADDON = fileURLToPath(new URL('../../build/native/rtp_send.node', import.meta.url));

function load(): { sendBatch: SendBatch } | { error: string } {
  const off = switchedOff('nativeRtp');
  if (off !== undefined) return { error: off };
  if (!existsSync(ADDON)) return { error: `${ADDON} not built (node scripts/build-native.mjs)` };
  try {
    const mod = createRequire(import.meta.url)(ADDON) as { sendBatch?: unknown };
    if (typeof mod.sendBatch !== 'function') return { error: `${ADDON} has no sendBatch` };
    return { sendBatch: mod.sendBatch as SendBatch };
  } catch (err) {
    return { error: `${ADDON} did not load: ${err instanceof Error ? err.message : String(err)}` };
  }
}

const loaded = load();

/** The native batch send, or undefined (see nativeSendError for why). */
export const nativeSendBatch: SendBatch | undefined = 'sendBatch' in loaded ? loaded.sendBatch : undefined;
/** Why the native send is not in use; undefined when it is. */
export const nativeSendError: string | undefined = 'error' in loaded ? loaded.error : undefined;
