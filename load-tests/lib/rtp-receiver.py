#!/usr/bin/env python3
# Child process of run-moh.ts: one UDP socket receiving every stream; inter-packet gaps per SSRC after a warm-up.
# argv: <seconds>. Prints "port <n>" first; its measured window of <seconds> starts when a line "measure" arrives on
# stdin (the runner sends it once the sender runs every stream); then one JSON line with gap percentiles and losses;
# then it keeps draining the port until killed.
#
# Arrival times are the kernel's receive timestamps (SO_TIMESTAMPNS), taken when the datagram reaches the socket,
# so the figures measure the sender's spacing, not when this process got around to reading (Node's dgram has no
# access to them: a receiver in Node measured its own garbage-collection pauses as the sender's jitter).
import array, json, socket, struct, sys, threading, time

SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10
go = threading.Event()


def wait_for_measure():
    for line in sys.stdin:
        if line.strip() == 'measure':
            go.set()
            return


threading.Thread(target=wait_for_measure, daemon=True).start()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    # Root may exceed net.core.rmem_max: 100,000 packets/s must survive a slow turn of this loop.
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
except OSError:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
s.bind(('127.0.0.1', 0))
print('port', s.getsockname()[1], flush=True)
s.settimeout(0.2)

last = {}
last_seq = {}
gaps = array.array('d')
lost = 0
end = None
measuring = False
recvmsg = s.recvmsg
unpack = struct.unpack_from
while True:
    if not measuring and go.is_set():
        measuring = True
        end = time.monotonic() + seconds
    if measuring and time.monotonic() >= end:
        break
    try:
        data, anc, _flags, _addr = recvmsg(256, 64)
    except socket.timeout:
        continue
    if len(data) < 12 or not anc:
        continue
    sec, nsec = unpack('qq', anc[0][2])
    at = sec * 1e3 + nsec / 1e6
    seq = (data[2] << 8) | data[3]
    ssrc = unpack('>I', data, 8)[0]
    prev = last.get(ssrc)
    if prev is not None and measuring:
        gaps.append(at - prev)
        lost += ((seq - last_seq[ssrc]) & 0xFFFF) - 1
    last[ssrc] = at
    last_seq[ssrc] = seq

g = sorted(gaps)
n = len(g)
q = lambda p: round(g[min(n - 1, int(p * n))], 1) if n else 0
print(json.dumps({'streamsSeen': len(last), 'gaps': n, 'p50': q(0.5), 'p99': q(0.99), 'p999': q(0.999),
                  'max': round(g[-1], 1) if n else 0, 'lost': lost}), flush=True)
# Keep the port open (reading and discarding) until the runner ends this process after the sender stopped: a closed
# port would answer every packet with an ICMP error, a load on the sender that no phone causes.
while True:
    try:
        recvmsg(256, 64)
    except socket.timeout:
        pass
