// Batched SIP over UDP for the listening socket (udp.ts): recvmmsg(2) and sendmmsg(2), one call from JavaScript per
// batch of datagrams, readiness from libuv (uv_poll) on the edge's own event loop. Why: under REGISTER load Node's
// dgram spends more per datagram than sipedge's SIP work does. Measured on the 2-core VM with a trivial JavaScript
// responder under SIPp: 31-39 us of CPU per REGISTER transaction (one datagram in, one out), three quarters of it in
// Node's and libc's per-datagram work (a Buffer and an rinfo object per receive, a SendWrap and a request per send),
// against a 41 us budget for the 24,000 transactions/s target. No npm package does batched UDP on Node 20 (libuv has
// recvmmsg only behind UV_UDP_RECVMMSG, which Node does not expose), hence this file. Optional: without it udp.ts
// uses dgram, with the same behaviour.
//
// open(host: string, port: number, recvBufferBytes: number, sendBufferBytes: number): [fd, family, port, address]
//   a non-blocking UDP socket bound to host:port (an IPv6 host gives a dual-stack socket, like dgram's 'udp6'), its
//   receive buffer recvBufferBytes even above net.core.rmem_max when the process may (CAP_NET_ADMIN), else capped;
//   throws an Error whose code is the errno name (EADDRINUSE, EADDRNOTAVAIL, EACCES, ...).
// watch(fd: number, onReadable: (status: number, stopped: boolean) => void): handle
//   calls onReadable(0, false) from the event loop whenever fd is readable (level-triggered), as an async callback:
//   process ticks and promise jobs run after it like after any I/O callback. Keeps the event loop alive until
//   unwatch. When the poll fails (libuv reports POLLERR as status UV_EBADF and stops the handle), the pending socket
//   error is read away (SO_ERROR) and the poll started again: onReadable(status, false). When that is not possible
//   (the descriptor is gone, uv_poll_start fails, or MAX_POLL_ERRORS failures come in a row without a readable event
//   between them), the watch stays stopped: onReadable(status, true), and no datagram arrives any more. Throws
//   (with the errno name as code) when libuv refuses to watch fd at all.
// unwatch(handle): stops watching; close(fd): closes the socket (after unwatch).
// recv(fd, buf: Uint8Array, stride: number, meta: Int32Array, max: number): number
//   up to max datagrams (max <= 64), datagram i into buf[i*stride ..]; meta[i*8 ..] = length, port, family (4/6),
//   1 when truncated (longer than stride), then the source address bytes (4 or 16) in meta[i*8+4 .. i*8+8).
//   Returns the count, 0 when nothing is waiting, -errno on another error. Never blocks.
// send(fd: number, family: number, queue: Array, count: number, drops: Int32Array): number
//   queue holds count triples (data: Buffer | string (UTF-8), port: number, address: IP literal), flattened; sends
//   them with sendmmsg, 64 at a time, MSG_DONTWAIT. Returns how many were not sent, and adds them to drops by why:
//   drops[0] the kernel had no room (socket buffer full: EAGAIN, EWOULDBLOCK, ENOBUFS), drops[1] the kernel refused
//   the datagram (bad address, too big, unreachable: any other errno), drops[2] the entry is not a datagram (data not
//   a Buffer or string, a string over 64 KiB, port not 1-65535, address not an IP literal of the socket's family).
//   None of these throws: each datagram is dropped like one lost on the wire (a request's sender retransmits, RFC 3261
//   §17.1; a lost response is sent again when the retransmitted request reaches its transaction). This is where this
//   path differs from Node's dgram, which queues a datagram the kernel has no room for and sends it once the socket
//   is writable (memory grows instead). Throws a TypeError only for arguments of the wrong shape (fd, family, queue,
//   count, drops).
//
// Threads: the addon keeps no process-wide state. Its only scratch memory (where string datagrams are encoded) is
// per Node environment (napi_set_instance_data), so the main thread and worker threads may each load and use it.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#define BATCH 64
#define SCRATCH_BYTES 65536
#define META 8
/** Failed polls in a row (no readable event between them) after which a watch gives up. */
#define MAX_POLL_ERRORS 8

/** Per-environment state: scratch for string datagrams, BATCH slots of SCRATCH_BYTES, allocated on first use. */
typedef struct {
  uint8_t *scratch;
} Instance;

/**
 * One watched socket. Freed once both libuv has closed the poll handle and the JavaScript handle (an external) was
 * collected, whichever comes last: unwatch() on a handle whose memory is gone can then not happen.
 */
typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  int fd;
  int errors;
  int stopped;
  int closed;
  int finalized;
} Watch;

static napi_value throw_errno(napi_env env, int err, const char *what) {
  const char *name = "EIO";
  switch (err) {
    case EADDRINUSE: name = "EADDRINUSE"; break;
    case EADDRNOTAVAIL: name = "EADDRNOTAVAIL"; break;
    case EACCES: name = "EACCES"; break;
    case EAFNOSUPPORT: name = "EAFNOSUPPORT"; break;
    case EINVAL: name = "EINVAL"; break;
    case EMFILE: name = "EMFILE"; break;
    case ENFILE: name = "ENFILE"; break;
    case ENOBUFS: name = "ENOBUFS"; break;
    case ENOMEM: name = "ENOMEM"; break;
    case EBADF: name = "EBADF"; break;
    case EEXIST: name = "EEXIST"; break;
    case ENOTSOCK: name = "ENOTSOCK"; break;
    case EPERM: name = "EPERM"; break;
  }
  char text[160];
  snprintf(text, sizeof text, "%s %s: %s", what, name, strerror(err));
  napi_value code, msg, error;
  napi_create_string_latin1(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_throw(env, error);
  return NULL;
}

static int get_int(napi_env env, napi_value v, int32_t *out) { return napi_get_value_int32(env, v, out) == napi_ok; }

static int typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &offset) != napi_ok) return 0;
  return type == want;
}

/** Parses an IP literal into sa for a socket of the given family (IPv4 on an IPv6 socket: v4-mapped). */
static socklen_t to_sockaddr(const char *ip, int port, int family, struct sockaddr_storage *sa) {
  memset(sa, 0, sizeof *sa);
  struct in_addr v4;
  if (inet_pton(AF_INET, ip, &v4) == 1) {
    if (family == 4) {
      struct sockaddr_in *s = (struct sockaddr_in *)sa;
      s->sin_family = AF_INET;
      s->sin_port = htons((uint16_t)port);
      s->sin_addr = v4;
      return sizeof *s;
    }
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)sa;
    s->sin6_family = AF_INET6;
    s->sin6_port = htons((uint16_t)port);
    s->sin6_addr.s6_addr[10] = 0xff;
    s->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&s->sin6_addr.s6_addr[12], &v4, 4);
    return sizeof *s;
  }
  if (family != 6) return 0;
  struct sockaddr_in6 *s = (struct sockaddr_in6 *)sa;
  if (inet_pton(AF_INET6, ip, &s->sin6_addr) != 1) return 0;
  s->sin6_family = AF_INET6;
  s->sin6_port = htons((uint16_t)port);
  return sizeof *s;
}

static napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char host[64];
  size_t hostLen;
  int32_t port, rcv, snd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_value_string_latin1(env, argv[0], host, sizeof host, &hostLen) != napi_ok || !get_int(env, argv[1], &port) ||
      !get_int(env, argv[2], &rcv) || !get_int(env, argv[3], &snd) || port < 0 || port > 65535) {
    napi_throw_type_error(env, NULL, "open(host, port, recvBufferBytes, sendBufferBytes)");
    return NULL;
  }
  struct in6_addr probe;
  int family = inet_pton(AF_INET6, host, &probe) == 1 ? 6 : 4;
  struct sockaddr_storage sa;
  socklen_t len = to_sockaddr(host, port, family, &sa);
  if (len == 0) return throw_errno(env, EINVAL, "bind");
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  if (family == 6) {
    int off = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  // Not fatal when refused: the kernel's default (capped by net.core.rmem_max / wmem_max) applies. The receive buffer
  // is asked past net.core.rmem_max first (SO_RCVBUFFORCE, allowed with CAP_NET_ADMIN, e.g. as root): see udp.ts.
  if (rcv > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  if (snd > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  if (bind(fd, (struct sockaddr *)&sa, len) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "bind");
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  char name[INET6_ADDRSTRLEN] = "";
  int boundPort = 0;
  if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0) {
    if (bound.ss_family == AF_INET) {
      struct sockaddr_in *s = (struct sockaddr_in *)&bound;
      inet_ntop(AF_INET, &s->sin_addr, name, sizeof name);
      boundPort = ntohs(s->sin_port);
    } else {
      struct sockaddr_in6 *s = (struct sockaddr_in6 *)&bound;
      inet_ntop(AF_INET6, &s->sin6_addr, name, sizeof name);
      boundPort = ntohs(s->sin6_port);
    }
  }
  napi_value out, v;
  napi_create_array_with_length(env, 4, &out);
  napi_create_int32(env, fd, &v);
  napi_set_element(env, out, 0, v);
  napi_create_int32(env, family, &v);
  napi_set_element(env, out, 1, v);
  napi_create_int32(env, boundPort, &v);
  napi_set_element(env, out, 2, v);
  napi_create_string_latin1(env, name, NAPI_AUTO_LENGTH, &v);
  napi_set_element(env, out, 3, v);
  return out;
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  Watch *w = (Watch *)handle->data;
  if (w->stopped) return;
  int gaveUp = 0;
  if (status < 0) {
    // libuv has stopped the handle. SO_ERROR reads the pending error away (it is what raised POLLERR); then watch
    // again, unless the descriptor is gone or the errors keep coming.
    int err = 0;
    socklen_t len = sizeof err;
    gaveUp = ++w->errors > MAX_POLL_ERRORS || getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
             uv_poll_start(&w->poll, UV_READABLE, on_poll) != 0;
  } else {
    w->errors = 0;
  }
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, result, argv[2];
  if (napi_get_reference_value(env, w->callback, &cb) == napi_ok && cb != NULL) {
    napi_get_global(env, &recv);
    napi_create_int32(env, status < 0 ? status : 0, &argv[0]);
    napi_get_boolean(env, gaveUp, &argv[1]);
    if (napi_make_callback(env, w->async, recv, cb, 2, argv, &result) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void on_closed(uv_handle_t *handle) {
  Watch *w = (Watch *)handle->data;
  w->closed = 1;
  if (w->finalized) free(w);
}

/** Stops the poll and releases the callback; the memory goes in on_closed or finalize, whichever runs last. */
static void stop(napi_env env, Watch *w) {
  if (w->stopped) return;
  w->stopped = 1;
  uv_poll_stop(&w->poll);
  napi_delete_reference(env, w->callback);
  napi_async_destroy(env, w->async);
  uv_close((uv_handle_t *)&w->poll, on_closed);
}

/** The JavaScript handle was collected: stop watching if unwatch() was never called. */
static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  Watch *w = (Watch *)data;
  w->finalized = 1;
  stop(env, w);
  if (w->closed) free(w);
}

static napi_value udp_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  napi_valuetype t;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || !get_int(env, argv[0], &fd) ||
      napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, NULL, "watch(fd, onReadable)");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_errno(env, EINVAL, "watch");
  Watch *w = calloc(1, sizeof *w);
  if (w == NULL) return throw_errno(env, ENOMEM, "watch");
  w->env = env;
  napi_value name, external;
  napi_create_string_latin1(env, "sipedge.udp", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[1], 1, &w->callback) != napi_ok ||
      napi_async_init(env, NULL, name, &w->async) != napi_ok) {
    free(w);
    return throw_errno(env, EINVAL, "watch");
  }
  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc != 0) {
    napi_delete_reference(env, w->callback);
    napi_async_destroy(env, w->async);
    free(w);
    return throw_errno(env, -rc, "watch");
  }
  w->poll.data = w;
  w->fd = fd;
  rc = uv_poll_start(&w->poll, UV_READABLE, on_poll);
  if (rc != 0) {
    // The handle is initialised: it must be closed, and its memory goes in on_closed (no JavaScript handle exists).
    w->finalized = 1;
    stop(env, w);
    return throw_errno(env, -rc, "watch");
  }
  if (napi_create_external(env, w, finalize, NULL, &external) != napi_ok) {
    stop(env, w);
    w->finalized = 1;
    return throw_errno(env, ENOMEM, "watch");
  }
  return external;
}

static napi_value udp_unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Watch *w = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_external(env, argv[0], (void **)&w) != napi_ok || w == NULL) {
    napi_throw_type_error(env, NULL, "unwatch(handle)");
    return NULL;
  }
  stop(env, w);
  return NULL;
}

static napi_value udp_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !get_int(env, argv[0], &fd)) {
    napi_throw_type_error(env, NULL, "close(fd)");
    return NULL;
  }
  close(fd);
  return NULL;
}

static napi_value udp_recv(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t fd, stride, max;
  uint8_t *buf;
  int32_t *meta;
  size_t nbuf, nmeta;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 || !get_int(env, argv[0], &fd) ||
      !typed(env, argv[1], napi_uint8_array, (void **)&buf, &nbuf) || !get_int(env, argv[2], &stride) ||
      !typed(env, argv[3], napi_int32_array, (void **)&meta, &nmeta) || !get_int(env, argv[4], &max)) {
    napi_throw_type_error(env, NULL, "recv(fd, buf, stride, meta, max)");
    return NULL;
  }
  if (max < 1 || max > BATCH || stride < 1 || (size_t)max * (size_t)stride > nbuf || (size_t)max * META > nmeta) {
    napi_throw_range_error(env, NULL, "recv: max exceeds the arrays");
    return NULL;
  }
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_storage from[BATCH];
  for (int i = 0; i < max; i++) {
    iov[i].iov_base = buf + (size_t)i * (size_t)stride;
    iov[i].iov_len = (size_t)stride;
    memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
  }
  int n;
  do n = recvmmsg(fd, msgs, (unsigned)max, MSG_DONTWAIT, NULL);
  while (n < 0 && errno == EINTR);
  if (n < 0) n = (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
  for (int i = 0; i < n; i++) {
    int32_t *m = meta + (size_t)i * META;
    m[0] = (int32_t)msgs[i].msg_len;
    m[3] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
    if (from[i].ss_family == AF_INET) {
      struct sockaddr_in *s = (struct sockaddr_in *)&from[i];
      m[1] = ntohs(s->sin_port);
      m[2] = 4;
      memcpy(&m[4], &s->sin_addr, 4);
    } else {
      struct sockaddr_in6 *s = (struct sockaddr_in6 *)&from[i];
      m[1] = ntohs(s->sin6_port);
      m[2] = 6;
      memcpy(&m[4], &s->sin6_addr, 16);
    }
  }
  napi_value result;
  napi_create_int32(env, n, &result);
  return result;
}

/** This environment's string scratch (BATCH x SCRATCH_BYTES), allocated on first use; NULL when memory is short. */
static uint8_t *scratch_of(napi_env env) {
  Instance *inst = NULL;
  if (napi_get_instance_data(env, (void **)&inst) != napi_ok || inst == NULL) return NULL;
  if (inst->scratch == NULL) inst->scratch = malloc((size_t)BATCH * SCRATCH_BYTES);
  return inst->scratch;
}

static void free_instance(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Instance *inst = (Instance *)data;
  free(inst->scratch);
  free(inst);
}

enum { DROP_NO_ROOM, DROP_REFUSED, DROP_BAD_ENTRY };

static napi_value udp_send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t fd, family, count;
  int32_t *drops;
  size_t ndrops;
  bool isArray;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 || !get_int(env, argv[0], &fd) ||
      !get_int(env, argv[1], &family) || napi_is_array(env, argv[2], &isArray) != napi_ok || !isArray ||
      !get_int(env, argv[3], &count) || count < 0 || !typed(env, argv[4], napi_int32_array, (void **)&drops, &ndrops) ||
      ndrops < 3) {
    napi_throw_type_error(env, NULL, "send(fd, family, queue, count, drops)");
    return NULL;
  }
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_storage to[BATCH];
  uint8_t *scratch = NULL;
  int32_t dropped = 0;
  int32_t done = 0;
  while (done < count) {
    int n = 0;
    for (; done < count && n < BATCH; done++) {
      napi_value data, portValue, addressValue;
      napi_valuetype t;
      int32_t port;
      char address[64];
      size_t addressLen;
      socklen_t len = 0;
      int ok = napi_get_element(env, argv[2], (uint32_t)done * 3, &data) == napi_ok &&
               napi_get_element(env, argv[2], (uint32_t)done * 3 + 1, &portValue) == napi_ok &&
               napi_get_element(env, argv[2], (uint32_t)done * 3 + 2, &addressValue) == napi_ok &&
               get_int(env, portValue, &port) && port > 0 && port <= 65535 &&
               napi_get_value_string_latin1(env, addressValue, address, sizeof address, &addressLen) == napi_ok &&
               (len = to_sockaddr(address, port, family, &to[n])) != 0 && napi_typeof(env, data, &t) == napi_ok;
      if (ok && t == napi_string) {
        size_t written;
        if (scratch == NULL) scratch = scratch_of(env);
        uint8_t *slot = scratch == NULL ? NULL : scratch + (size_t)n * SCRATCH_BYTES;
        // A string that does not fit (64 KiB of UTF-8) would be cut: refuse it instead.
        ok = slot != NULL && napi_get_value_string_utf8(env, data, (char *)slot, SCRATCH_BYTES, &written) == napi_ok &&
             written < SCRATCH_BYTES - 1;
        if (ok) {
          iov[n].iov_base = slot;
          iov[n].iov_len = written;
        }
      } else if (ok) {
        void *bytes;
        size_t length;
        ok = napi_get_buffer_info(env, data, &bytes, &length) == napi_ok;
        if (ok) {
          iov[n].iov_base = bytes;
          iov[n].iov_len = length;
        }
      }
      if (!ok) {
        drops[DROP_BAD_ENTRY]++;
        dropped++;
        continue;
      }
      memset(&msgs[n].msg_hdr, 0, sizeof msgs[n].msg_hdr);
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      msgs[n].msg_hdr.msg_name = &to[n];
      msgs[n].msg_hdr.msg_namelen = len;
      n++;
    }
    int i = 0;
    while (i < n) {
      int r = sendmmsg(fd, msgs + i, (unsigned)(n - i), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (r < 0) {
        if (errno == EINTR) continue;
        // This datagram is lost (see the contract above); go on with the rest.
        drops[errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? DROP_NO_ROOM : DROP_REFUSED]++;
        dropped++;
        i++;
      } else {
        i += r;
      }
    }
  }
  napi_value result;
  napi_create_int32(env, dropped, &result);
  return result;
}

NAPI_MODULE_INIT() {
  Instance *inst = calloc(1, sizeof *inst);
  if (inst == NULL || napi_set_instance_data(env, inst, free_instance, NULL) != napi_ok) {
    free(inst);
    return NULL;
  }
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"open", udp_open}, {"watch", udp_watch}, {"unwatch", udp_unwatch},
      {"close", udp_close}, {"recv", udp_recv},   {"send", udp_send},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, fns[i].name, fn) != napi_ok) return NULL;
  }
  return exports;
}
