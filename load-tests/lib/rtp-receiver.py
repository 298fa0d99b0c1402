#!/usr/bin/env python3
# Child process of run-moh.ts: receives every stream and measures inter-packet gaps per SSRC.
# argv: <seconds> <path>. Prints "target <ip> <port> <bind ip> <path>" first (where the sender sends to, the address
# its sockets bind to, the path taken); its measured window of <seconds> starts when a line "measure" arrives on
# stdin (the runner sends it once the sender runs every stream); then one JSON line with gap percentiles and losses;
# then it keeps draining until killed or until its stdin closes.
#
# <path> is how the packets reach this process ("auto": wire where this process may set it up, else loopback):
# - "wire": the sender's packets leave through a TUN device this process creates (10.201.<n>.0/24, no reader: the
#   device drops them once its queue is full, as a fast network would take them), and a packet socket on that device
#   sees each one as it is handed to the device. The sender's core does what it does in production (build, send,
#   hand to a network device) and nothing more. Needs CAP_NET_ADMIN and /dev/net/tun.
# - "loopback": one UDP socket on 127.0.0.1. The kernel runs the receiving side of loopback traffic (IP and UDP
#   input, queueing, waking this process) on the sending core, so the sender's core also pays for the receiver's
#   stack: about a fifth of its time at 2,000 streams on the 2-core test VM.
#
# Arrival times are the kernel's timestamps (SO_TIMESTAMPNS), taken when the packet reaches the device tap or the
# socket, so the figures measure the sender's spacing, not when this process got around to reading (Node's dgram
# has no access to them: a receiver in Node measured its own garbage-collection pauses as the sender's jitter).
import array, fcntl, json, os, socket, struct, subprocess, sys, threading, time

SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
ETH_P_ALL = 0x0003

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10
path = sys.argv[2] if len(sys.argv) > 2 else 'auto'
go = threading.Event()


def wait_for_measure():
    for line in sys.stdin:
        if line.strip() == 'measure':
            go.set()
    # The runner holds our stdin open while it runs: end of input means it is gone, and so is our reason to drain.
    os._exit(0)


def big_buffer(s):
    try:
        # Root may exceed net.core.rmem_max: 100,000 packets/s must survive a slow turn of this loop.
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


def open_wire():
    """TUN device + packet socket; returns (socket, the device fd to keep, path taken, target text)."""
    tun = os.open('/dev/net/tun', os.O_RDWR)
    ifr = fcntl.ioctl(tun, TUNSETIFF, struct.pack('16sH', b'sipedgemoh%d', IFF_TUN | IFF_NO_PI))
    name = ifr[:16].rstrip(b'\0').decode()
    net = 201 + os.getpid() % 50  # two runs at once get different subnets
    subprocess.run(['ip', 'addr', 'add', f'10.{net}.0.1/24', 'dev', name], check=True)
    subprocess.run(['ip', 'link', 'set', name, 'up'], check=True)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    big_buffer(s)
    s.bind((name, ETH_P_ALL))
    # The device goes when this process ends (the fd closes); keep it referenced.
    return s, tun, 'wire', f'10.{net}.0.2 5004 10.{net}.0.1'


def open_loopback():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    big_buffer(s)
    s.bind(('127.0.0.1', 0))
    return s, None, 'loopback', f'127.0.0.1 {s.getsockname()[1]} 127.0.0.1'


try:
    s, keep, taken, where = open_loopback() if path == 'loopback' else open_wire()
except (OSError, subprocess.CalledProcessError) as e:
    if path == 'wire':
        print(f'rtp-receiver: cannot set up the wire path (root, /dev/net/tun and ip needed): {e}', file=sys.stderr, flush=True)
        sys.exit(3)
    print(f'rtp-receiver: no wire path ({e}); measuring over loopback', file=sys.stderr, flush=True)
    s, keep, taken, where = open_loopback()
wire = taken == 'wire'
threading.Thread(target=wait_for_measure, daemon=True).start()
print(f'target {where} {taken}', flush=True)
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
        data, anc, _flags, _addr = recvmsg(512, 64)
    except socket.timeout:
        continue
    if not anc:
        continue
    if wire:
        # An IPv4 packet: header, UDP header, RTP.
        if len(data) < 40 or data[0] >> 4 != 4 or data[9] != 17:
            continue
        o = (data[0] & 15) * 4 + 8
    else:
        o = 0
    if len(data) < o + 12:
        continue
    sec, nsec = unpack('qq', anc[0][2])
    at = sec * 1e3 + nsec / 1e6
    seq = (data[o + 2] << 8) | data[o + 3]
    ssrc = unpack('>I', data, o + 8)[0]
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
# Keep reading and discarding until the runner ends this process after the sender stopped: a closed UDP port would
# answer every packet with an ICMP error, a load on the sender that no phone causes (and the TUN device must stay).
while True:
    try:
        recvmsg(512, 64)
    except socket.timeout:
        pass
