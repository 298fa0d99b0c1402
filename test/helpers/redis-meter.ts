// A TCP forwarder between an edge and the test's redis-server that counts round trips: on each connection, a round
// trip is a run of commands the client sent after the last bytes Redis sent it (one pipeline, one script call), up
// to Redis's next reply. The commands of each run are parsed (RESP arrays of bulk strings) so a test can tell which
// runs served its requests.
import net from 'node:net';

/** One run of commands the client sent before waiting for Redis's reply. */
export interface RoundTrip {
  /** Each command's arguments, the name first. */
  commands: string[][];
}

export class RedisMeter {
  /** Every round trip on every connection so far, in the order they started. */
  readonly roundTrips: RoundTrip[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    /** The port the edge connects to (redis://127.0.0.1:<port>). */
    readonly port: number,
  ) {}

  /** Listens on 127.0.0.1 (a free port) and forwards each connection to the redis-server on `redisPort`. */
  static async start(redisPort: number): Promise<RedisMeter> {
    let meter: RedisMeter | undefined;
    const server = net.createServer((client) => meter!.forward(client, redisPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    meter = new RedisMeter(server, (server.address() as net.AddressInfo).port);
    return meter;
  }

  private forward(client: net.Socket, redisPort: number): void {
    const upstream = net.connect(redisPort, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    let current: RoundTrip | undefined;
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      if (current === undefined) {
        current = { commands: [] };
        this.roundTrips.push(current);
      }
      pending = Buffer.concat([pending, chunk]);
      let parsed: { args: string[]; used: number } | undefined;
      while ((parsed = parseCommand(pending)) !== undefined) {
        current.commands.push(parsed.args);
        pending = pending.subarray(parsed.used);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      current = undefined; // Redis answered: the client's next bytes start a new round trip.
      client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** One RESP command (an array of bulk strings) from the start of `buf`, or undefined while it is incomplete. */
function parseCommand(buf: Buffer): { args: string[]; used: number } | undefined {
  if (buf.length === 0) return undefined;
  if (buf[0] !== 0x2a) throw new Error(`redis-meter: expected a RESP array, got ${JSON.stringify(buf.subarray(0, 20).toString())}`);
  let eol = buf.indexOf('\r\n');
  if (eol < 0) return undefined;
  const n = Number(buf.subarray(1, eol).toString());
  let at = eol + 2;
  const args: string[] = [];
  for (let i = 0; i < n; i++) {
    eol = buf.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const len = Number(buf.subarray(at + 1, eol).toString());
    const start = eol + 2;
    if (buf.length < start + len + 2) return undefined;
    args.push(buf.subarray(start, start + len).toString());
    at = start + len + 2;
  }
  return { args, used: at };
}
