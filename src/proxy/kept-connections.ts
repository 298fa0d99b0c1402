// One kept TCP/TLS connection per peer (an upstream, another node's internal hop), opened once however many requests
// want it at the same moment, reopened when it has closed. Which peer and how to connect are the callers'.
import type { Flow } from '../transport/flow.ts';

export class KeptConnections {
  private readonly open = new Map<string, Flow>();
  /** Connects under way, by key: whoever wants that peer's connection meanwhile waits for this one. */
  private readonly connecting = new Map<string, Promise<Flow | undefined>>();

  /** The open connection for `key`, or the pending connect (undefined when it fails; onError hears why). */
  get(key: string, connect: () => Promise<Flow>, onError: (e: NodeJS.ErrnoException) => void): Flow | Promise<Flow | undefined> {
    const open = this.open.get(key);
    if (open !== undefined && open.isOpen) return open;
    let pending = this.connecting.get(key);
    if (pending === undefined) {
      pending = connect().then(
        (f) => {
          this.connecting.delete(key);
          this.open.set(key, f);
          return f;
        },
        (e: NodeJS.ErrnoException) => {
          this.connecting.delete(key);
          onError(e);
          return undefined;
        },
      );
      this.connecting.set(key, pending);
    }
    return pending;
  }
}
