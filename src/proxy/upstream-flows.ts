// The ways to and from the configured upstreams: which upstream a request came from (its source IP; host names are
// resolved at start), and the flow to each one: UDP from the listening socket, TCP over one kept connection that is
// opened once however many requests (and probes) want it at the same moment. Health is upstream-set.ts's, the choice
// per extension upstream-chooser.ts's.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from '../observability/logger.ts';
import type { Flow } from '../transport/flow.ts';
import type { Upstream } from './upstream-set.ts';

/** What the upstream flows need of transport/ (TransportLayer). */
export interface UpstreamTransport {
  udpFlow(address: string, port: number): Flow;
  connectTcp(host: string, port: number): Promise<Flow>;
}

export class UpstreamFlows {
  /** Source IP -> configured upstream (requests from these are "from upstream"). */
  private readonly byIp = new Map<string, Upstream>();
  private readonly udp = new Map<string, Flow>();
  private readonly tcp = new Map<string, Flow>();
  /** TCP connects under way, by upstream uri: whoever wants that upstream's connection meanwhile waits for this one. */
  private readonly connecting = new Map<string, Promise<Flow | undefined>>();

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
   * The flow to `u`: UDP from the listening socket; TCP over the kept connection, reopened when it has closed. While a
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
    const open = this.tcp.get(u.uri);
    if (open !== undefined && open.isOpen) return open;
    let pending = this.connecting.get(u.uri);
    if (pending === undefined) {
      pending = this.transport.connectTcp(u.host, u.port).then(
        (f) => {
          this.connecting.delete(u.uri);
          this.tcp.set(u.uri, f);
          return f;
        },
        () => {
          this.connecting.delete(u.uri);
          return undefined;
        },
      );
      this.connecting.set(u.uri, pending);
    }
    return pending;
  }
}
