// The node registry (README "Many nodes"): this node's heartbeat in the store, which nodes are alive and where their
// internal hop listens, and the cleanup after a dead node (its connection bindings). The hop itself is proxy/'s.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { BindingStore, NodeRecord, NodeStore } from '../store/types.ts';

/** This node as bindings and the registry name it; the address is learnt once the listeners are bound (app.ts). */
export interface NodeIdentity {
  readonly id: string;
  /** host:port of this node's internal hop; '' until known, or when SIP over TCP is off. */
  address: string;
}

export interface NodeRegistryDeps {
  config: Config['cluster'];
  nodes: NodeStore;
  bindings: BindingStore;
  node: NodeIdentity;
  /** What the heartbeat reports besides the node's address: open connections and its upstreams' states. */
  view(): Pick<NodeRecord, 'connections' | 'upstreams'>;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
}

/** Compare-and-set attempts per AOR when removing a dead node's bindings. */
const MAX_CAS_ATTEMPTS = 8;

/**
 * Every heartbeatSeconds: writes this node's record, reads everybody's, and declares dead any node whose record is
 * older than deadAfterSeconds (nodes share a time base: NTP). The one survivor whose removal of the dead record
 * succeeds removes that node's connection bindings (TCP/TLS/WS/WSS: their connections died with it) from every AOR
 * and logs node.dead; its UDP bindings stay (other nodes reach them from their own socket until they expire or
 * re-register). A node restarted after kill -9 comes back with a new id, so its old bindings go the same way.
 */
export class NodeRegistry {
  private readonly startedAt: number;
  /** Live nodes other than this one, from the last heartbeat. */
  private live = new Map<string, NodeRecord>();
  /** The hosts of the live nodes' internal addresses (the flood guard gives them an upstream's budget). */
  private liveHosts = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;

  constructor(private readonly d: NodeRegistryDeps) {
    this.startedAt = d.clock.now();
  }

  start(): void {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.d.config.heartbeatSeconds * 1000);
    this.timer.unref();
  }

  /** A graceful stop: this node leaves the registry at once (its connections closed, their bindings went with them). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
    await this.d.nodes.remove(this.d.node.id).catch(() => undefined);
  }

  /** A live node's internal hop address (proxy/node-hop.ts NodeDirectory); undefined for dead, unknown or address-less. */
  addressOf(nodeId: string): string | undefined {
    const address = this.live.get(nodeId)?.address;
    return address === '' ? undefined : address;
  }

  /** True when address (an IP) is the host of another live node's internal address. */
  isNodeHost(address: string): boolean {
    return this.liveHosts.has(address);
  }

  /** One heartbeat (also the test's way to run one without waiting): write, read, detect and clean up dead nodes. */
  beat(): Promise<void> {
    this.beating ??= this.beatOnce().finally(() => (this.beating = undefined));
    return this.beating;
  }

  private async beatOnce(): Promise<void> {
    const now = this.d.clock.now();
    const self = this.d.node;
    try {
      await this.d.nodes.put({ id: self.id, address: self.address, startedAt: this.startedAt, seenAt: now, ...this.d.view() });
      const deadBefore = now - this.d.config.deadAfterSeconds * 1000;
      const live = new Map<string, NodeRecord>();
      for (const rec of await this.d.nodes.list()) {
        if (rec.id === self.id) continue;
        if (rec.seenAt >= deadBefore) live.set(rec.id, rec);
        else if (await this.d.nodes.remove(rec.id)) await this.cleanUp(rec, now);
      }
      this.live = live;
      this.liveHosts = new Set([...live.values()].map((r) => hostOf(r.address)).filter((h) => h !== ''));
      this.d.metrics.nodesLive.set(live.size + 1);
    } catch (e) {
      // The store is down: keep the last view (the store's outage is reported where requests fail).
      this.d.logger.debug({ event: 'node.heartbeat_failed', err: (e as Error).message });
    }
  }

  private async cleanUp(dead: NodeRecord, now: number): Promise<void> {
    let removed = 0;
    for (const aor of await this.d.bindings.aors(now)) removed += await this.removeBindingsOf(aor, dead.id);
    this.d.metrics.nodesDead.inc();
    this.d.logger.warn({ event: 'node.dead', nodeId: dead.id, address: dead.address, lastSeenMs: now - dead.seenAt, removedBindings: removed });
  }

  private async removeBindingsOf(aor: string, nodeId: string): Promise<number> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const now = this.d.clock.now();
      const cur = await this.d.bindings.get(aor, now);
      const kept = cur.bindings.filter((b) => b.nodeId !== nodeId || b.transport === 'udp');
      if (kept.length === cur.bindings.length) return 0;
      if (await this.d.bindings.replace(aor, kept, cur.version, now)) return cur.bindings.length - kept.length;
    }
    return 0;
  }
}

/** The host of a host:port address ([v6]:port too); '' for none. */
function hostOf(address: string): string {
  if (address === '') return '';
  if (address.startsWith('[')) return address.slice(1, address.indexOf(']'));
  const colon = address.lastIndexOf(':');
  return colon < 0 ? address : address.slice(0, colon);
}
