// The SDPs of an anchored call in the relay micro-benchmarks (bencode.bench.ts, relay-call.bench.ts): what
// run-invite.ts --anchor's phones offer, a browser's SDP (DTLS-SRTP, ICE, rtcp-mux, Opus and PCMU), and a PBX's answer.
const fingerprint = Array.from({ length: 32 }, (_, i) => (i * 7 + 16).toString(16).toUpperCase()).join(':');

export const BROWSER_OFFER = Buffer.from(
  [
    'v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 6000 UDP/TLS/RTP/SAVPF 111 0',
    'a=rtpmap:111 opus/48000/2', 'a=fmtp:111 minptime=10;useinbandfec=1', 'a=rtpmap:0 PCMU/8000', 'a=setup:actpass',
    `a=fingerprint:sha-256 ${fingerprint}`, 'a=ice-ufrag:sipp1', 'a=ice-pwd:sipedgeloadrunicepassword',
    'a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host', 'a=rtcp-mux', 'a=sendrecv', '',
  ].join('\r\n'),
);

export const PBX_ANSWER = Buffer.from(['v=0', 'o=- 2 2 IN IP4 127.0.0.2', 's=-', 'c=IN IP4 127.0.0.2', 't=0 0', 'm=audio 7000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n'));
