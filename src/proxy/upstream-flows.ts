// The ways to and from the configured upstreams: which upstream a request came from (its source IP; host names are
// resolved at start), and the flow to each one: UDP from the listening socket, TCP or TLS over one kept connection that
// is opened once however many requests (and probes) want it at the same moment (TLS checks the upstream's certificate
// against its host name: transport/tls.ts). Health is upstream-set.ts's, the choice
// per extension upstream-chooser.ts's.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from '../observability/logger.ts';
import type { Flow } from '../transport/flow.ts';
import { KeptConnections } from './kept-connections.ts';
import type { Upstream } from './upstream-set.ts';

/** What the upstream flows need of transport/ (TransportLayer). */
interface UpstreamTransport {
  udpFlow(address: string, port: number): Flow;
  connectTcp(host: string, port: number): Promise<Flow>;
  connectTls(host: string, port: number): Promise<Flow>;
}

export class UpstreamFlows {
  /** Source IP -> configured upstream (requests from these are "from upstream"). */
  private readonly byIp = new Map<string, Upstream>();
  private readonly udp = new Map<string, Flow>();
  /** Kept TCP/TLS connections, by upstream uri. */
  private readonly streams = new KeptConnections();

  constructor(
    private readonly transport: UpstreamTransport,
    private readonly logger: Logger,
  ) {}

  /** Learns the upstreams' source IPs: literal ones at once, host names through DNS (a failed lookup is logged). */
  async start(upstreams: readonly Upstream[]): Promise<void> {
    for (const u of upstreams) if (isIP(u.host)) this.byIp.set(u.host, u);
    for (const u of upstreams) {
      if (isIP(u.host)) continue;
      try {
        for (const r of await lookup(u.host, { all: true })) this.byIp.set(r.address, u);
      } catch (e) {
        this.logger.warn({ event: 'upstream.resolve_failed', upstream: u.uri, code: (e as NodeJS.ErrnoException).code });
      }
    }
  }

  /** The configured upstream whose address `sourceAddress` is, or undefined for anybody else. */
  from(sourceAddress: string): Upstream | undefined {
    return this.byIp.get(sourceAddress);
  }

  /**
   * The flow to `u`: UDP from the listening socket; TCP/TLS over the kept connection, reopened when it has closed. While a
   * connect is under way every caller gets the same promise (one connection, not one per request). Undefined when the
   * connection cannot be opened.
   */
  flowFor(u: Upstream): Flow | Promise<Flow | undefined> {
    if (u.transport === 'udp') {
      let f = this.udp.get(u.uri);
      if (f === undefined) {
        f = this.transport.udpFlow(u.host, u.port);
        this.udp.set(u.uri, f);
      }
      return f;
    }
    const connect = (): Promise<Flow> => (u.transport === 'tls' ? this.transport.connectTls(u.host, u.port) : this.transport.connectTcp(u.host, u.port));
    return this.streams.get(u.uri, connect, (e) => {
      // A refused certificate is worth a line (the probe only says no-flow); a refused connect is the probe's to report.
      if (u.transport === 'tls' && e.code !== 'ECONNREFUSED') this.logger.warn({ event: 'upstream.tls_failed', upstream: u.uri, code: e.code, reason: e.message });
    });
  }
}
