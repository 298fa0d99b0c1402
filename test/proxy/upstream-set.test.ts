// Upstream health stories: the edge probes PBXs (real UDP sockets on 127.0.0.1 port 0) with OPTIONS; they answer,
// stay silent or say 503. Rounds are driven with probeAll(); time moves only through the FakeClock.
import dgram from 'node:dgram';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger, silentLogger } from '../../src/observability/logger.ts';
import { UpstreamFlows } from '../../src/proxy/upstream-flows.ts';
import { probeTransportOf, UpstreamSet } from '../../src/proxy/upstream-set.ts';
import { metricValue, until } from '../transport/peers.ts';
import { startStack, type Stack } from '../transaction/stack.ts';

type Mode = 'ok' | 'silent' | '503' | '404';

/** An upstream PBX: answers OPTIONS per `mode`, counts what it received. */
class Pbx {
  mode: Mode = 'ok';
  options = 0;
  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (m, rinfo) => {
      const text = m.toString('latin1');
      if (!text.startsWith('OPTIONS ')) return;
      this.options++;
      if (this.mode === 'silent') return;
      const status = this.mode === 'ok' ? '200 OK' : this.mode === '503' ? '503 Service Unavailable' : '404 Not Found';
      const copied = text
        .split('\r\n')
        .filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l))
        .map((l) => (l.startsWith('To:') ? l + ';tag=pbx' : l));
      socket.send(`SIP/2.0 ${status}\r\n${copied.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`, rinfo.port, rinfo.address);
    });
  }
  static async open(): Promise<Pbx> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    return new Pbx(socket);
  }
  get uri(): string {
    return `sip:127.0.0.1:${this.socket.address().port}`;
  }
}

let stack: Stack | undefined;
let set: UpstreamSet | undefined;
const pbxs: Pbx[] = [];

afterEach(async () => {
  set?.stop();
  set = undefined;
  for (const p of pbxs.splice(0)) p.socket.close();
  await stack?.close();
  stack = undefined;
});

async function pbx(): Promise<Pbx> {
  const p = await Pbx.open();
  pbxs.push(p);
  return p;
}

/** The log lines written so far, parsed. */
const logLines: { event?: string; upstream?: string; reason?: string }[] = [];

async function edgeWith(env: string): Promise<{ set: UpstreamSet; stack: Stack }> {
  stack = await startStack();
  const config = loadConfig({ env: { SIPEDGE_UPSTREAMS: env } });
  logLines.length = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as (typeof logLines)[number]);
      cb();
    },
  });
  set = new UpstreamSet({
    upstreams: config.upstreams,
    probe: config.proxy.probe,
    transport: probeTransportOf(stack.transactions.clients, new UpstreamFlows(stack.transport, silentLogger())),
    clock: stack.clock,
    logger: createLogger('info', sink),
    metrics: stack.metrics,
    advertisedHost: `127.0.0.1:${stack.addrs.udp!.port}`,
  });
  return { set, stack };
}

/** One probe round in which silent upstreams run into the 2 s probe timeout. */
async function round(s: UpstreamSet, st: Stack): Promise<void> {
  const before = pbxs.map((p) => p.options);
  const done = s.probeAll();
  let settled = false;
  void done.then(() => (settled = true));
  // Give answering PBXs their round trip before the clock moves (bounded polling); then expire the silent ones.
  await until(() => settled || pbxs.every((p, i) => p.mode === 'silent' || p.options > before[i]!));
  if (!settled) await new Promise((r) => setTimeout(r, 30));
  if (!settled) {
    st.advance(2000);
    s.tick();
  }
  await done;
}

const up = (st: Stack, uri: string) => metricValue(st.metrics.upstreamUp, { upstream: uri });

describe('upstream set', () => {
  it('marks a PBX up after its first answered OPTIONS, and not before', async () => {
    const alice = await pbx();
    const { set, stack } = await edgeWith(alice.uri);
    expect(set.healthy()).toEqual([]);
    expect(await up(stack, alice.uri)).toBe(0);
    await round(set, stack);
    expect(alice.options).toBe(1);
    expect(set.healthy().map((u) => u.uri)).toEqual([alice.uri]);
    expect(await up(stack, alice.uri)).toBe(1);
    expect(logLines.filter((l) => l.event === 'upstream.up')).toMatchObject([{ upstream: alice.uri, reason: 'answered 200' }]);
    const { values } = await stack.metrics.upstreamProbeSeconds.get();
    expect(values.find((v) => v.metricName === 'sipedge_upstream_probe_seconds_count' && v.labels.upstream === alice.uri)?.value).toBe(1);
  });

  it('counts a 404 to OPTIONS as alive: the PBX answered', async () => {
    const alice = await pbx();
    alice.mode = '404';
    const { set, stack } = await edgeWith(alice.uri);
    await round(set, stack);
    expect(set.stateOf(alice.uri)).toBe('up');
  });

  it('keeps a PBX up through one lost probe, and marks it down after three in a row', async () => {
    const alice = await pbx();
    const { set, stack } = await edgeWith(alice.uri);
    await round(set, stack);
    alice.mode = 'silent';
    await round(set, stack);
    expect(set.stateOf(alice.uri)).toBe('up');
    alice.mode = 'ok';
    await round(set, stack); // an answer resets the failure count
    alice.mode = 'silent';
    await round(set, stack);
    await round(set, stack);
    expect(set.stateOf(alice.uri)).toBe('up');
    expect(await up(stack, alice.uri)).toBe(1);
    await round(set, stack);
    expect(set.stateOf(alice.uri)).toBe('down');
    expect(set.healthy()).toEqual([]);
    expect(await up(stack, alice.uri)).toBe(0);
    expect(logLines.filter((l) => l.event === 'upstream.down')).toMatchObject([{ upstream: alice.uri, reason: 'timeout' }]);
    // The timed-out probes left no client transaction behind.
    expect(stack.transactions.clients.size).toBe(0);
  });

  it('marks a PBX saying 503 down after three probes, and up again after two answers', async () => {
    const alice = await pbx();
    const { set, stack } = await edgeWith(alice.uri);
    await round(set, stack);
    alice.mode = '503';
    for (let i = 0; i < 3; i++) await round(set, stack);
    expect(set.stateOf(alice.uri)).toBe('down');
    expect(logLines.find((l) => l.event === 'upstream.down')?.reason).toBe('status-503');
    alice.mode = 'ok';
    await round(set, stack);
    expect(set.stateOf(alice.uri)).toBe('down');
    await round(set, stack);
    expect(set.stateOf(alice.uri)).toBe('up');
    expect(await up(stack, alice.uri)).toBe(1);
    expect(logLines.filter((l) => l.event?.startsWith('upstream.')).map((l) => l.event)).toEqual(['upstream.up', 'upstream.down', 'upstream.up']);
  });

  it('marks a PBX that never answers down after three probes, logged once', async () => {
    const bob = await pbx();
    bob.mode = 'silent';
    const { set, stack } = await edgeWith(bob.uri);
    for (let i = 0; i < 3; i++) await round(set, stack);
    expect(set.stateOf(bob.uri)).toBe('down');
    await round(set, stack);
    expect(logLines.filter((l) => l.event === 'upstream.down')).toHaveLength(1);
  });

  it('lists the healthy PBXs by priority, then weight, leaving out the dead one', async () => {
    const [a, b, c, d] = [await pbx(), await pbx(), await pbx(), await pbx()];
    d.mode = 'silent';
    const { set, stack } = await edgeWith(
      `${a.uri};priority=2;weight=5,${b.uri};priority=1;weight=1,${c.uri};priority=1;weight=9,${d.uri};priority=0`,
    );
    await round(set, stack);
    expect(set.healthy().map((u) => u.uri)).toEqual([c.uri, b.uri, a.uri]);
    expect(set.healthy()[0]).toMatchObject({ host: '127.0.0.1', port: c.socket.address().port, priority: 1, weight: 9, transport: 'udp' });
  });

  it('probes on its own interval once started, reading the injected clock', async () => {
    const alice = await pbx();
    const { set, stack } = await edgeWith(alice.uri);
    set.start();
    await until(() => set.stateOf(alice.uri) === 'up');
    expect(alice.options).toBe(1);
    stack.clock.advance(10_000);
    await until(() => alice.options === 2);
  });
});
