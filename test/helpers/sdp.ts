// SDP bodies the test actors send: a browser's (Chromium's shape: UDP/TLS/RTP/SAVPF, ICE, DTLS fingerprint, rtcp-mux,
// Opus first) and a desk phone's (RTP/AVP, G.711, no ICE), plus readers for what the edge forwarded.

const FINGERPRINT = Array.from({ length: 32 }, (_, i) => ((i * 37 + 11) & 0xff).toString(16).toUpperCase().padStart(2, '0')).join(':');

/** A browser's offer (or, with setup 'active', its answer) naming `port` on 127.0.0.1 as its ICE host candidate. */
export function webrtcSdp(port: number, o: { setup?: 'actpass' | 'active'; direction?: string; opusOnly?: boolean } = {}): string {
  const pts = o.opusOnly ? '111 126' : '111 0 8 126';
  return [
    'v=0',
    `o=- 46117314 2 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    `m=audio ${port} UDP/TLS/RTP/SAVPF ${pts}`,
    'c=IN IP4 127.0.0.1',
    `a=candidate:1 1 udp 2122260223 127.0.0.1 ${port} typ host generation 0`,
    'a=ice-ufrag:Tq2x',
    'a=ice-pwd:b6h3JmSNl0xgPYfrDcAzKOu1',
    `a=fingerprint:sha-256 ${FINGERPRINT}`,
    `a=setup:${o.setup ?? 'actpass'}`,
    'a=mid:0',
    `a=${o.direction ?? 'sendrecv'}`,
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    ...(o.opusOnly ? [] : ['a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000']),
    'a=rtpmap:126 telephone-event/8000',
    '',
  ].join('\r\n');
}

/** A desk phone's or PBX's SDP: RTP/AVP on 127.0.0.1:port with the given static payload types (default PCMU, PCMA). */
export function plainSdp(port: number, o: { pts?: number[]; direction?: string } = {}): string {
  const pts = o.pts ?? [0, 8];
  return [
    'v=0',
    `o=desk 1 1 IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP ${pts.join(' ')}`,
    ...pts.map((p) => `a=rtpmap:${p} ${p === 0 ? 'PCMU' : p === 8 ? 'PCMA' : 'unknown'}/8000`),
    `a=${o.direction ?? 'sendrecv'}`,
    '',
  ].join('\r\n');
}

/** What a side was sent: the m=audio line's transport and formats, the connection address, and the WebRTC markers. */
export function readSdp(body: string): { proto: string; port: number; formats: string[]; address: string; ice: boolean; fingerprint: boolean; direction: string; codecs: string[] } {
  const m = /^m=audio (\d+) (\S+) ([^\r\n]*)/m.exec(body);
  const formats = m?.[3]?.trim().split(' ') ?? [];
  const codecs = formats.map((f) => new RegExp(`^a=rtpmap:${f} ([^/\\r\\n]+)`, 'm').exec(body)?.[1] ?? f);
  return {
    proto: m?.[2] ?? '',
    port: Number(m?.[1] ?? 0),
    formats,
    address: /^c=IN IP[46] (\S+)/m.exec(body)?.[1] ?? '',
    ice: /^a=ice-ufrag:/m.test(body),
    fingerprint: /^a=fingerprint:/m.test(body),
    direction: /^a=(sendrecv|sendonly|recvonly|inactive)/m.exec(body)?.[1] ?? 'sendrecv',
    codecs,
  };
}
