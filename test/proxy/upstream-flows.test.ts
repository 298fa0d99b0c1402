// The flows to the upstreams on real sockets: one kept TCP connection per upstream, opened once however many requests
// want it at the same moment, reopened after it closed; a connect that fails leaves nothing behind.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.ts';
import { UpstreamFlows } from '../../src/proxy/upstream-flows.ts';
import type { Upstream } from '../../src/proxy/upstream-set.ts';
import type { Flow } from '../../src/transport/flow.ts';
import { until } from '../transport/peers.ts';
import { startStack, type Stack } from '../transaction/stack.ts';

let stack: Stack | undefined;
let pbx: net.Server | undefined;

afterEach(async () => {
  await stack?.close();
  stack = undefined;
  await new Promise((r) => (pbx ? pbx.close(r) : r(undefined)));
  pbx = undefined;
});

/** A TCP PBX on 127.0.0.1 that keeps every accepted connection. */
async function tcpPbx(): Promise<{ upstream: Upstream; accepted: net.Socket[] }> {
  const accepted: net.Socket[] = [];
  pbx = net.createServer((s) => accepted.push(s));
  await new Promise<void>((r) => pbx!.listen(0, '127.0.0.1', () => r()));
  const port = (pbx.address() as net.AddressInfo).port;
  return { upstream: { uri: `sip:127.0.0.1:${port};transport=tcp`, host: '127.0.0.1', port, priority: 1, weight: 1, transport: 'tcp' }, accepted };
}

describe('upstream flows', () => {
  it('opens one TCP connection to an upstream for requests that want it at the same time, and reopens it once closed', async () => {
    stack = await startStack();
    const { upstream, accepted } = await tcpPbx();
    const flows = new UpstreamFlows(stack.transport, silentLogger());
    // Three requests in one turn of the event loop: none of them can see a connection yet.
    const wanted = [flows.flowFor(upstream), flows.flowFor(upstream), flows.flowFor(upstream)];
    const got = await Promise.all(wanted);
    const first = got[0] as Flow;
    expect(first.isOpen).toBe(true);
    expect(new Set(got)).toEqual(new Set([first]));
    // A later request reuses the open connection.
    expect(await flows.flowFor(upstream)).toBe(first);
    await until(() => accepted.length >= 1);

    accepted[0]!.destroy();
    await until(() => !first.isOpen);
    const again = await Promise.all([flows.flowFor(upstream), flows.flowFor(upstream)]);
    expect(again[0]).not.toBe(first);
    expect(again[1]).toBe(again[0]);
    await until(() => accepted.length >= 2);
    // The PBX accepted one connection per open: the first and the reopened one.
    expect(accepted).toHaveLength(2);
  });

  it('answers undefined to every waiter when the connect fails, and tries again on the next request', async () => {
    stack = await startStack();
    const { upstream, accepted } = await tcpPbx();
    await new Promise((r) => pbx!.close(r));
    pbx = undefined;
    const flows = new UpstreamFlows(stack.transport, silentLogger());
    expect(await Promise.all([flows.flowFor(upstream), flows.flowFor(upstream)])).toEqual([undefined, undefined]);
    pbx = net.createServer((s) => accepted.push(s));
    await new Promise<void>((r) => pbx!.listen(upstream.port, '127.0.0.1', () => r()));
    const flow = await flows.flowFor(upstream);
    expect(flow?.isOpen).toBe(true);
    await until(() => accepted.length === 1);
  });

  it('names the upstream a request came from by its source IP, and nobody else', async () => {
    stack = await startStack();
    const flows = new UpstreamFlows(stack.transport, silentLogger());
    const u: Upstream = { uri: 'sip:127.0.0.2:5070', host: '127.0.0.2', port: 5070, priority: 1, weight: 1, transport: 'udp' };
    await flows.start([u]);
    expect(flows.from('127.0.0.2')).toBe(u);
    expect(flows.from('127.0.0.1')).toBeUndefined();
    // UDP: one flow from the listening socket, the same for every request.
    expect(flows.flowFor(u)).toBe(flows.flowFor(u));
  });
});
