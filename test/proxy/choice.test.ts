// The proxy's small decisions, without sockets: which upstream an extension gets and keeps (weighted, sticky, moved on
// failure and optionally back, agreed between two nodes through one store), merged-request detection, route tokens.
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { MergedRequests } from '../../src/proxy/merged-requests.ts';
import { RouteTokens } from '../../src/proxy/route-token.ts';
import { pick, UpstreamChooser } from '../../src/proxy/upstream-chooser.ts';
import { UpstreamSet, type ProbeTransport } from '../../src/proxy/upstream-set.ts';
import { MemoryUpstreamChoiceStore } from '../../src/store/memory/upstream-choices.ts';
import type { Flow } from '../../src/transport/flow.ts';

const logger = createLogger('silent');

/** PBXs that answer OPTIONS with 200 while their uri is in `alive`, and time out otherwise (no sockets). */
function pbxs(alive: Set<string>): ProbeTransport {
  return {
    flowFor: () => ({ localAddress: '127.0.0.1', localPort: 5060 }) as Flow,
    send(request, _meta, handlers) {
      const uri = request.toString('latin1').split(' ')[1]!;
      queueMicrotask(() => (alive.has(uri) ? handlers.onResponse({ status: 200 } as never) : handlers.onTimeout()));
      return { method: 'OPTIONS', branch: '', isCompleted: false, cancelTimers() {} };
    },
  };
}

function upstreamSet(env: string, clock: FakeClock, alive: Set<string>): UpstreamSet {
  const config = loadConfig({ env: { SIPEDGE_UPSTREAMS: env } });
  return new UpstreamSet({
    upstreams: config.upstreams,
    probe: { ...config.proxy.probe, failuresToDown: 1, successesToUp: 1 },
    transport: pbxs(alive),
    clock,
    logger,
    metrics: new Metrics(),
  });
}

function chooser(set: UpstreamSet, store: MemoryUpstreamChoiceStore, clock: FakeClock, moveBackMs = 0): UpstreamChooser {
  return new UpstreamChooser({ set, store, clock, logger, moveBackMs, moves: { inc() {} } });
}

const A = 'sip:10.0.0.1';
const B = 'sip:10.0.0.2';
const C = 'sip:10.0.0.3';

describe('choosing one upstream per extension', () => {
  it('spreads extensions by weight among the best priority and never picks a lower priority while one is up', async () => {
    const clock = new FakeClock();
    const set = upstreamSet(`${A};priority=1;weight=3,${B};priority=1;weight=1,${C};priority=2`, clock, new Set([A, B, C]));
    await set.probeAll();
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const u = pick(`${1000 + i}@acme`, set.healthy());
      counts.set(u.uri, (counts.get(u.uri) ?? 0) + 1);
    }
    expect(counts.get(C)).toBeUndefined();
    // 3:1 by weight, within a few percent.
    expect(counts.get(A)! / 4000).toBeGreaterThan(0.7);
    expect(counts.get(A)! / 4000).toBeLessThan(0.8);
  });

  it('keeps an extension on its upstream while it is up, moves it when it goes down, and not back by default', async () => {
    const clock = new FakeClock();
    const alive = new Set([A, B]);
    const set = upstreamSet(`${A};priority=1,${B};priority=2`, clock, alive);
    await set.probeAll();
    const store = new MemoryUpstreamChoiceStore();
    const c = chooser(set, store, clock);
    expect((await c.choose('201@acme'))?.uri).toBe(A);
    expect((await c.choose('201@acme'))?.uri).toBe(A);
    alive.delete(A);
    await set.probeAll();
    expect((await c.choose('201@acme'))?.uri).toBe(B);
    expect((await store.get('201@acme'))?.upstream).toBe(B);
    alive.add(A);
    await set.probeAll();
    clock.advance(3600_000);
    expect((await c.choose('201@acme'))?.uri).toBe(B);
  });

  it('moves an extension back to the preferred upstream once it has been up for moveBackAfterSeconds', async () => {
    const clock = new FakeClock();
    const alive = new Set([B]);
    const set = upstreamSet(`${A};priority=1,${B};priority=2`, clock, alive);
    await set.probeAll();
    const store = new MemoryUpstreamChoiceStore();
    const c = chooser(set, store, clock, 60_000);
    expect((await c.choose('201@acme'))?.uri).toBe(B);
    alive.add(A);
    await set.probeAll();
    clock.advance(59_000);
    expect((await c.choose('201@acme'))?.uri).toBe(B);
    clock.advance(1_000);
    expect((await c.choose('201@acme'))?.uri).toBe(A);
  });

  it('fails over once to another healthy upstream and moves the binding; with none left it says so', async () => {
    const clock = new FakeClock();
    const set = upstreamSet(`${A},${B}`, clock, new Set([A, B]));
    await set.probeAll();
    const store = new MemoryUpstreamChoiceStore();
    const c = chooser(set, store, clock);
    const first = (await c.choose('201@acme'))!;
    const next = (await c.failover('201@acme', first))!;
    expect(next.uri).not.toBe(first.uri);
    expect((await store.get('201@acme'))?.upstream).toBe(next.uri);
    const solo = upstreamSet(A, clock, new Set([A]));
    await solo.probeAll();
    const c2 = chooser(solo, new MemoryUpstreamChoiceStore(), clock);
    expect(await c2.failover('201@acme', (await c2.choose('201@acme'))!)).toBeUndefined();
  });

  it('makes two edge nodes sharing a store agree: both follow the choice stored first', async () => {
    const clock = new FakeClock();
    const store = new MemoryUpstreamChoiceStore();
    const nodeA = upstreamSet(`${A},${B}`, clock, new Set([A, B]));
    const nodeB = upstreamSet(`${A},${B}`, clock, new Set([A, B]));
    await nodeA.probeAll();
    await nodeB.probeAll();
    // Node A saw only A up when it chose (its own view); node B sees both and still follows the store.
    await store.compareAndSet('201@acme', undefined, { upstream: B, since: clock.now() });
    for (let i = 0; i < 5; i++) {
      expect((await chooser(nodeA, store, clock).choose('201@acme'))?.uri).toBe(B);
      expect((await chooser(nodeB, store, clock).choose('201@acme'))?.uri).toBe(B);
    }
  });

  it('answers undefined when no upstream is healthy', async () => {
    const clock = new FakeClock();
    const set = upstreamSet(`${A}`, clock, new Set());
    await set.probeAll();
    expect(await chooser(set, new MemoryUpstreamChoiceStore(), clock).choose('201@acme')).toBeUndefined();
  });
});

describe('merged requests (RFC 3261 §8.2.2.2)', () => {
  it('flags the same From tag, Call-ID and CSeq on another branch, not the same branch, and forgets after 32 s', () => {
    const clock = new FakeClock();
    const m = new MergedRequests(clock);
    expect(m.isMerged('t1', 'c1', 1, 'INVITE', 'z9hG4bKa')).toBe(false);
    expect(m.isMerged('t1', 'c1', 1, 'INVITE', 'z9hG4bKa')).toBe(false);
    expect(m.isMerged('t1', 'c1', 1, 'INVITE', 'z9hG4bKb')).toBe(true);
    expect(m.isMerged('t1', 'c1', 2, 'INVITE', 'z9hG4bKb')).toBe(false);
    clock.advance(32_000);
    expect(m.isMerged('t1', 'c1', 1, 'INVITE', 'z9hG4bKc')).toBe(false);
    expect(m.size).toBe(1);
  });
});

describe('Record-Route tokens', () => {
  it('verifies its own tokens and refuses tampered or foreign ones', () => {
    const tokens = new RouteTokens('secret-1', 'node-a');
    const t = tokens.mint({ kind: 'flow', flowId: 'udp:5060:192.0.2.7:5062' });
    const want = { target: { kind: 'flow', flowId: 'udp:5060:192.0.2.7:5062' }, node: 'node-a' };
    expect(tokens.verify(t)).toEqual(want);
    expect(new RouteTokens('secret-1', 'node-b').verify(t)).toEqual(want);
    expect(new RouteTokens('secret-2', 'node-a').verify(t)).toBeUndefined();
    const forged = Buffer.from('fnode-a udp:5060:203.0.113.9:5060').toString('base64url') + t.slice(t.indexOf('.'));
    expect(tokens.verify(forged)).toBeUndefined();
    expect(tokens.verify('alice')).toBeUndefined();
  });

  it('names the node that minted a flow token inside the MAC: moving a token to another node id breaks it', () => {
    const a = new RouteTokens('secret-1', 'node-a');
    const t = a.mint({ kind: 'flow', flowId: 'ws:2' });
    const moved = Buffer.from('fnode-b ws:2').toString('base64url') + t.slice(t.indexOf('.'));
    expect(new RouteTokens('secret-1', 'node-b').verify(moved)).toBeUndefined();
    expect(new RouteTokens('secret-1', 'node-b').verify(t)?.node).toBe('node-a');
  });
});
