// SIP over TLS (RFC 3261 §26.2, port 5061): the TLS server and outbound TLS sockets. Connections are tcp.ts's
// (same framing and flows, transport 'tls'); the certificate and its reloads are certificates.ts's.
import { isIP } from 'node:net';
import tls from 'node:tls';
import { MIN_TLS_VERSION, type CredentialSource } from './certificates.ts';
import type { ListenerContext } from './listener-context.ts';
import { connectStream, type StreamServerFactory, type TcpConnection } from './tcp.ts';

/** A TLS handshake must finish within this long, or the connection is dropped and counted; ms. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** How the edge checks the certificates of TLS peers it connects to (upstreams). */
export interface TlsClientOptions {
  /** Trusted CAs (PEM): Node's public roots plus tls.upstreamCaFile; undefined = Node's roots only. */
  ca?: string[];
  /** Check the chain and the host name (tls.verifyUpstreams); false accepts any certificate. */
  verify: boolean;
}

/** Options of a TLS server (SIP over TLS, WSS): the current certificate, TLS 1.2 or later, a handshake deadline. */
export function secureServerOptions(certs: CredentialSource): tls.TlsOptions {
  return { ...certs.current, minVersion: MIN_TLS_VERSION, handshakeTimeout: HANDSHAKE_TIMEOUT_MS };
}

/** Keeps `server` on the current certificate and counts its failed handshakes; undone when the server closes. */
export function followCertificate(server: tls.Server, certs: CredentialSource, ctx: ListenerContext, transport: 'tls' | 'wss'): void {
  const stop = certs.onChange((c) => server.setSecureContext({ ...c, minVersion: MIN_TLS_VERSION }));
  server.once('close', stop);
  server.on('tlsClientError', (err: Error & { code?: string }, socket) => {
    ctx.handshakeFailed(transport, err);
    socket.destroy();
  });
}

/** The server factory for TcpListener: TLS connections are handed over once their handshake is done. */
export function tlsServer(certs: CredentialSource, ctx: ListenerContext): StreamServerFactory {
  return (accept) => {
    const server = tls.createServer(secureServerOptions(certs));
    server.on('secureConnection', accept);
    followCertificate(server, certs, ctx, 'tls');
    return server;
  };
}

/**
 * Opens a TLS connection to host:port (RFC 3261 §26.3.1: the server's certificate is checked against the host name
 * the request was sent to; RFC 5922 §7.1). With `own`, the edge's certificate is offered when the peer asks for one.
 */
export function connectTls(ctx: ListenerContext, host: string, port: number, client: TlsClientOptions, own?: CredentialSource): Promise<TcpConnection> {
  const socket = tls.connect({
    host,
    port,
    servername: isIP(host) === 0 ? host : undefined,
    ca: client.ca,
    rejectUnauthorized: client.verify,
    minVersion: MIN_TLS_VERSION,
    ...(own?.current ?? {}),
  });
  return connectStream(ctx, 'tls', socket, 'secureConnect');
}
