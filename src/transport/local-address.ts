// Which of this host's addresses a peer reaches us on, for a socket bound to a wildcard (0.0.0.0 / ::). The edge names
// itself in Via, Record-Route, Contact and SDP; a wildcard is not an address, and 127.0.0.1 only works for a peer on
// this host. A UDP socket bound to 0.0.0.0 does not learn a datagram's destination address from Node, so the answer
// comes from the host's interfaces and routes, the way the kernel picks a source address for a reply:
//   - a loopback peer -> the loopback address;
//   - a peer inside one of our interfaces' subnets -> that interface's address;
//   - anybody else -> the address of the interface holding the default route (then: the first non-internal one).
// Behind 1:1 NAT (a cloud VM's public IP) none of these is right: sip.advertisedHost / media.rtpAddress say it.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { isIP } from 'node:net';

type Interfaces = NodeJS.Dict<os.NetworkInterfaceInfo[]>;

export interface LocalAddressSource {
  /** os.networkInterfaces() or a stand-in. */
  interfaces(): Interfaces;
  /** Name of the interface with the IPv4 (4) or IPv6 (6) default route, if any. */
  defaultInterface(family: 4 | 6): string | undefined;
}

/** An IPv6 address in brackets, as a URI or a Via sent-by writes it; anything else as it is. */
export function uriHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** "host", "host:port", "[v6]" or "[v6]:port" (sip.advertisedHost) -> host without brackets, port or 0. */
export function splitHostPort(s: string): { host: string; port: number } {
  if (s === '') return { host: '', port: 0 };
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    return { host: s.slice(1, end), port: Number(s.slice(end + 2)) || 0 };
  }
  const colon = s.lastIndexOf(':');
  if (colon > 0 && s.indexOf(':') === colon) return { host: s.slice(0, colon), port: Number(s.slice(colon + 1)) || 0 };
  return { host: s, port: 0 };
}

/** RFC 1918, RFC 6598 (carrier-grade NAT), link-local and IPv6 unique-local/link-local addresses: behind some NAT. */
export function isPrivateAddress(ip: string): boolean {
  const v4 = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(ip);
  if (v4 !== null) {
    const a = Number(v4[1]);
    const b = Number(v4[2]);
    return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254);
  }
  const l = ip.toLowerCase();
  return /^f[cd][0-9a-f]{2}:/.test(l) || /^fe[89ab][0-9a-f]:/.test(l);
}

/** True for an address a socket may bind to but a peer cannot send to. */
export function isWildcard(address: string): boolean {
  return address === '' || address === '0.0.0.0' || address === '::' || address === '[::]';
}

/** The host's interfaces, and the default routes from /proc/net (Linux); no default route elsewhere. */
export const systemAddressSource: LocalAddressSource = {
  interfaces: () => os.networkInterfaces(),
  defaultInterface(family) {
    try {
      if (family === 4) {
        let best: { name: string; metric: number } | undefined;
        for (const line of readFileSync('/proc/net/route', 'latin1').split('\n').slice(1)) {
          const f = line.trim().split(/\s+/);
          // Iface Destination Gateway Flags RefCnt Use Metric Mask ...; destination and mask 0 = default; flag 1 = up.
          if (f.length < 8 || f[1] !== '00000000' || f[7] !== '00000000' || (Number.parseInt(f[3]!, 16) & 1) === 0) continue;
          const metric = Number.parseInt(f[6]!, 10);
          if (best === undefined || metric < best.metric) best = { name: f[0]!, metric };
        }
        return best?.name;
      }
      let best: { name: string; metric: number } | undefined;
      for (const line of readFileSync('/proc/net/ipv6_route', 'latin1').split('\n')) {
        const f = line.trim().split(/\s+/);
        // dest prefixlen src srcprefixlen nexthop metric refcnt use flags iface; ::/0 = default.
        if (f.length < 10 || !/^0+$/.test(f[0]!) || f[1] !== '00' || f[9] === 'lo') continue;
        const metric = Number.parseInt(f[5]!, 16);
        if (best === undefined || metric < best.metric) best = { name: f[9]!, metric };
      }
      return best?.name;
    } catch {
      return undefined;
    }
  },
};

/** Interfaces and routes are read again after this long (an address added by DHCP shows up); ms. */
const REFRESH_MS = 30_000;
/** Answers kept per peer address before the cache starts over. */
const CACHE_MAX = 10_000;

export class LocalAddresses {
  private snapshot: { at: number; interfaces: Interfaces; default4?: string; default6?: string } | undefined;
  private readonly cache = new Map<string, string>();

  constructor(
    private readonly source: LocalAddressSource = systemAddressSource,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The address to name ourselves by towards `remote` (an IP literal; undefined = "anybody": the default route's
   * address) on a socket bound to `bound`. A bound address that is not a wildcard is the answer as it is.
   */
  for(remote: string | undefined, bound: string): string {
    if (!isWildcard(bound)) return bound;
    const snap = this.current();
    const key = remote ?? bound;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const answer = this.compute(remote, bound, snap.interfaces, snap.default4, snap.default6);
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(key, answer);
    return answer;
  }

  /**
   * The address to name ourselves by on a flow: its own local address (a TCP/WS connection knows it; an IPv4-mapped
   * IPv6 one is written as IPv4), or for a UDP flow on a wildcard listener the one `for` picks towards its peer.
   */
  forFlow(flow: { localAddress: string; remoteAddress: string }): string {
    let a = flow.localAddress;
    if (a.startsWith('::ffff:') && a.includes('.')) a = a.slice(7);
    return this.for(flow.remoteAddress, a);
  }

  /** Every address of this host (loopback included), e.g. to recognise our own Via under any of them. */
  all(): string[] {
    const out: string[] = [];
    for (const list of Object.values(this.current().interfaces)) for (const a of list ?? []) out.push(a.address);
    return out;
  }

  private current(): NonNullable<LocalAddresses['snapshot']> {
    const t = this.now();
    if (this.snapshot === undefined || t - this.snapshot.at >= REFRESH_MS) {
      this.snapshot = {
        at: t,
        interfaces: this.source.interfaces(),
        default4: this.source.defaultInterface(4),
        default6: this.source.defaultInterface(6),
      };
      this.cache.clear();
    }
    return this.snapshot;
  }

  private compute(remote: string | undefined, bound: string, ifs: Interfaces, default4?: string, default6?: string): string {
    let peer = remote;
    if (peer !== undefined && peer.toLowerCase().startsWith('::ffff:') && isIP(peer.slice(7)) === 4) peer = peer.slice(7);
    const family: 4 | 6 = peer !== undefined ? (isIP(peer) === 6 ? 6 : 4) : bound === '::' || bound === '[::]' ? 6 : 4;
    const loopback = family === 4 ? '127.0.0.1' : '::1';
    if (peer !== undefined && (family === 4 ? peer.startsWith('127.') : peer === '::1')) return loopback;
    const fam = family === 4 ? 'IPv4' : 'IPv6';
    const usable = (a: os.NetworkInterfaceInfo): boolean =>
      a.family === fam && !a.internal && !(family === 6 && a.address.toLowerCase().startsWith('fe80'));
    if (peer !== undefined) {
      for (const list of Object.values(ifs)) {
        for (const a of list ?? []) if (usable(a) && sameSubnet(peer, a.address, a.netmask, family)) return a.address;
      }
    }
    const def = family === 4 ? default4 : default6;
    const viaDefault = def !== undefined ? ifs[def]?.find(usable) : undefined;
    if (viaDefault !== undefined) return viaDefault.address;
    for (const list of Object.values(ifs)) for (const a of list ?? []) if (usable(a)) return a.address;
    return loopback;
  }
}

/** The process-wide instance (interfaces and routes of this host). */
export const localAddresses = new LocalAddresses();

function sameSubnet(peer: string, address: string, netmask: string, family: 4 | 6): boolean {
  const p = toBytes(peer, family);
  const a = toBytes(address, family);
  const m = toBytes(netmask, family);
  if (p === undefined || a === undefined || m === undefined) return false;
  for (let i = 0; i < p.length; i++) if ((p[i]! & m[i]!) !== (a[i]! & m[i]!)) return false;
  return true;
}

function toBytes(ip: string, family: 4 | 6): number[] | undefined {
  if (family === 4) {
    const parts = ip.split('.').map(Number);
    return parts.length === 4 && parts.every((n) => n >= 0 && n <= 255) ? parts : undefined;
  }
  const [head, tail] = ip.split('%')[0]!.split('::') as [string, string | undefined];
  const groups = (s: string | undefined): number[] => (s === undefined || s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  if (all.length !== 8 || all.some((g) => !(g >= 0 && g <= 0xffff))) return undefined;
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}
