// STUN keep-alives on the SIP UDP port (RFC 5626 §4.4.2, RFC 5389): answer a Binding request with XOR-MAPPED-ADDRESS.
// Only the Binding method, no authentication or FINGERPRINT; udp.ts decides when a datagram is STUN.
import { isIPv4 } from 'node:net';

const MAGIC_COOKIE = 0x2112a442;
const HEADER_BYTES = 20;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const XOR_MAPPED_ADDRESS = 0x0020;

/**
 * True when buf looks like a STUN message (RFC 5389 §6: top two bits zero, magic cookie, length matching the
 * datagram). A SIP message starts with a letter, so the first byte alone already tells them apart.
 */
export function isStun(buf: Buffer): boolean {
  return (
    buf.length >= HEADER_BYTES &&
    (buf[0] & 0xc0) === 0 &&
    buf.readUInt32BE(4) === MAGIC_COOKIE &&
    buf.readUInt16BE(2) + HEADER_BYTES === buf.length
  );
}

/** The Binding success response for a Binding request from address:port, or undefined for any other STUN message. */
export function stunBindingResponse(req: Buffer, address: string, port: number): Buffer | undefined {
  if (req.readUInt16BE(0) !== BINDING_REQUEST) return undefined;
  const v4 = isIPv4(address) ? address : address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : undefined;
  const addrBytes = v4 !== undefined ? ipv4Bytes(v4) : ipv6Bytes(address);
  if (addrBytes === undefined) return undefined;
  const valueLen = 4 + addrBytes.length;
  const res = Buffer.alloc(HEADER_BYTES + 4 + valueLen);
  res.writeUInt16BE(BINDING_SUCCESS, 0);
  res.writeUInt16BE(4 + valueLen, 2);
  res.writeUInt32BE(MAGIC_COOKIE, 4);
  req.copy(res, 8, 8, HEADER_BYTES); // transaction id
  res.writeUInt16BE(XOR_MAPPED_ADDRESS, 20);
  res.writeUInt16BE(valueLen, 22);
  res[25] = v4 !== undefined ? 0x01 : 0x02;
  res.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), 26);
  // RFC 5389 §15.2: the address is XORed with the cookie (IPv4), or with cookie + transaction id (IPv6).
  for (let i = 0; i < addrBytes.length; i++) res[28 + i] = addrBytes[i] ^ res[4 + i];
  return res;
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

function ipv6Bytes(address: string): number[] | undefined {
  const zone = address.indexOf('%');
  const text = zone >= 0 ? address.slice(0, zone) : address;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...Array<string>(missing).fill('0'), ...tail];
  const out: number[] = [];
  for (const g of groups) {
    const n = parseInt(g, 16);
    if (Number.isNaN(n) || n > 0xffff) return undefined;
    out.push(n >> 8, n & 0xff);
  }
  return out;
}
