// The REGISTER the in-process REGISTER micro-benchmarks (register-path.bench.ts, register-redis.bench.ts) hand to the
// edge: a phone of tenant acme.example.com over UDP, with or without its Authorization.
import { randomBytes } from 'node:crypto';

export function registerRequest(ext: number, cseq: number, callId: string, auth?: string): Buffer {
  return Buffer.from(
    `REGISTER sip:acme.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK${randomBytes(6).toString('hex')};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:${ext}@acme.example.com>;tag=abc${cseq}\r\nTo: <sip:${ext}@acme.example.com>\r\nCall-ID: ${callId}\r\n` +
      `CSeq: ${cseq} REGISTER\r\nContact: <sip:${ext}@127.0.0.1:40000;transport=udp>\r\nExpires: 3600\r\nUser-Agent: bench\r\n` +
      (auth ? `Authorization: ${auth}\r\n` : '') + 'Content-Length: 0\r\n\r\n', 'latin1');
}
