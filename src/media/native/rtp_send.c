// Batched RTP send for the hold-music scheduler: one call from JavaScript sends a whole tick's packets, each on its
// own connected UDP socket (by file descriptor), with send(2) in a loop. Node's dgram costs ~2 us of JavaScript and
// binding work per datagram on top of the kernel's ~5 us (measured on the 2-core VM); 2,000 streams are 100,000
// datagrams a second, so that overhead alone is a fifth of a core. No library does this (sendmmsg needs one socket;
// each RTP stream needs its own port), hence this file. Optional: without it rtp-scheduler.ts uses dgram.
//
// sendBatch(fds: Int32Array, packets: Uint8Array, stride: number, lengths: Int32Array, count: number,
//           errors: Int32Array): number
//   packet i is packets[i*stride .. i*stride+lengths[i]), sent on fds[i]; errors[i] = 0 or the errno; returns the
//   number sent. MSG_DONTWAIT: a full socket buffer is EAGAIN (a lost packet), never a blocked event loop.
//
// Descriptor lifetime, which this file relies on and cannot check: fds[i] must still be the open socket of packet
// i's stream when sendBatch runs. A descriptor closed and reused by a new socket in between would carry the packet
// from the wrong port to the wrong peer (the kernel sees only a number). rtp-scheduler.ts guarantees it: a batch is
// filled and sent within one synchronous scheduler tick, sockets close only outside a tick's sending (on SIP events,
// and in the tick's onTick housekeeping, which runs after its last flush), and RtpSocket.close() sets fd = -1 before
// it closes the socket. The addon keeps no state of its own.
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <node_api.h>

static int typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &offset) != napi_ok) return 0;
  return type == want;
}

static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6) {
    napi_throw_type_error(env, NULL, "sendBatch(fds, packets, stride, lengths, count, errors)");
    return NULL;
  }
  int32_t *fds, *lengths, *errors;
  uint8_t *packets;
  size_t nfds, npackets, nlengths, nerrors;
  int32_t stride, count;
  if (!typed(env, argv[0], napi_int32_array, (void **)&fds, &nfds) ||
      !typed(env, argv[1], napi_uint8_array, (void **)&packets, &npackets) ||
      napi_get_value_int32(env, argv[2], &stride) != napi_ok ||
      !typed(env, argv[3], napi_int32_array, (void **)&lengths, &nlengths) ||
      napi_get_value_int32(env, argv[4], &count) != napi_ok ||
      !typed(env, argv[5], napi_int32_array, (void **)&errors, &nerrors)) {
    napi_throw_type_error(env, NULL, "sendBatch: bad argument types");
    return NULL;
  }
  if (count < 0 || stride <= 0 || (size_t)count > nfds || (size_t)count > nlengths || (size_t)count > nerrors ||
      (size_t)count * (size_t)stride > npackets) {
    napi_throw_range_error(env, NULL, "sendBatch: count exceeds the arrays");
    return NULL;
  }
  int32_t sent = 0;
  for (int32_t i = 0; i < count; i++) {
    int32_t len = lengths[i];
    if (len < 0 || len > stride) {
      errors[i] = EINVAL;
      continue;
    }
    ssize_t r = send(fds[i], packets + (size_t)i * (size_t)stride, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r < 0) errors[i] = errno;
    else {
      errors[i] = 0;
      sent++;
    }
  }
  napi_value result;
  napi_create_int32(env, sent, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "sendBatch", NAPI_AUTO_LENGTH, send_batch, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "sendBatch", fn) != napi_ok) return NULL;
  return exports;
}
