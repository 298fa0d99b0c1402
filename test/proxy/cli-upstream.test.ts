// The operator's view of the upstreams and nodes: `sipedge upstream status` (state from the running edge's /metrics,
// extensions per upstream and every node's view from the Redis store), `sipedge nodes`, and the chosen upstream and the
// node of each registration in `sipedge ext show`, run through the CLI entry point.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { eventually, startEdge, type TestEdge } from '../helpers/edge.ts';
import { register } from '../helpers/phone.ts';
import { SipPeer } from '../helpers/sip-peer.ts';

let edge: TestEdge | undefined;
const peers: SipPeer[] = [];
let dir: string | undefined;

afterEach(async () => {
  for (const p of peers.splice(0)) await p.close();
  await edge?.stop();
  edge = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await main(args, { out: (s) => lines.push(s), err: (s) => lines.push(s) });
  return { code, out: lines.join('\n') };
}

describe('sipedge upstream status, nodes and ext show', () => {
  it('shows each upstream up or down as the edge (and each node) sees it, the extensions it holds, the nodes, and an extension\'s choice and node', async () => {
    const alive = await SipPeer.open({ transport: 'udp', port: 0, localAddress: '127.0.0.2' });
    const dead = await SipPeer.open({ transport: 'udp', port: 0, localAddress: '127.0.0.4' });
    dead.silent = true;
    peers.push(alive, dead);
    const upstreams = [alive, dead].map((p) => ({ uri: `sip:${p.host}:${p.port}`, priority: 1, weight: 1, transport: 'udp' as const }));
    edge = await startEdge({
      store: 'redis',
      overrides: { upstreams, proxy: { probe: { intervalSeconds: 1, timeoutSeconds: 0.5, failuresToDown: 1, successesToUp: 1 } } },
    });
    alive.edgePort = edge.udpPort;
    await edge.cli(async (p) => {
      await p.addTenant('acme', 'acme.example.com');
      await p.addExtension({ ext: '1001', tenant: 'acme' }, { password: 'Correct-Horse-Battery-9' });
    });
    expect(await eventually(() => edge!.app.upstreams.stateOf(upstreams[1]!.uri) === 'down', 5000)).toBe(true);
    expect(await eventually(() => edge!.app.upstreams.stateOf(upstreams[0]!.uri) === 'up', 5000)).toBe(true);
    await edge.app.stores.upstreamChoices.compareAndSet('1001@acme', undefined, { upstream: upstreams[0]!.uri, since: Date.now() });
    const phone = await SipPeer.open({ transport: 'udp', port: edge.udpPort });
    peers.push(phone);
    expect(await register(phone, '1001', 'acme.example.com', 'Correct-Horse-Battery-9')).toBe(200);
    // The heartbeat after the probes: the registry holds this node's view of both upstreams.
    await edge.app.nodes.beat();
    const node = edge.app.node;

    dir = mkdtempSync(join(tmpdir(), 'sipedge-cli-up-'));
    const file = join(dir, 'config.json');
    const c = edge.config;
    writeFileSync(file, JSON.stringify({ store: 'redis', redis: c.redis, dataDir: c.dataDir, upstreams, http: { listen: `127.0.0.1:${edge.httpPort}` } }));

    const status = await cli(['--config', file, 'upstream', 'status', '--json']);
    expect(status.code, status.out).toBe(0);
    expect(JSON.parse(status.out)).toEqual([
      { ...upstreams[0], state: 'up', extensions: 1, nodes: { [node.id]: 'up' } },
      { ...upstreams[1], state: 'down', extensions: 0, nodes: { [node.id]: 'down' } },
    ]);
    const show = await cli(['--config', file, 'ext', 'show', '1001@acme']);
    expect(show.code, show.out).toBe(0);
    expect(show.out).toMatch(new RegExp(`^upstream +${upstreams[0]!.uri}$`, 'm'));
    expect(show.out).toContain(`udp from 127.0.0.1:${phone.port}`);
    expect(show.out).toContain(`node ${node.id} (${node.address})`);

    const nodes = await cli(['--config', file, 'nodes', '--json']);
    expect(nodes.code, nodes.out).toBe(0);
    expect(JSON.parse(nodes.out)).toEqual([
      expect.objectContaining({ id: node.id, address: `127.0.0.1:${edge.tcpPort}`, state: 'live', registrations: 1, upstreams: { [upstreams[0]!.uri]: 'up', [upstreams[1]!.uri]: 'down' } }),
    ]);
    const table = await cli(['--config', file, 'nodes']);
    expect(table.out.split('\n')[1]).toMatch(new RegExp(`^${node.id}\\t127\\.0\\.0\\.1:${edge.tcpPort}\\tlive\\t\\d+s\\t\\d+s ago\\t\\d+\\t1\\t1/2$`));
  });

  it('says so when no upstream is configured', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sipedge-cli-up-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ dataDir: dir, http: { listen: '127.0.0.1:1' } }));
    const status = await cli(['--config', file, 'upstream', 'status']);
    expect(status.code).toBe(0);
    expect(status.out).toContain('no upstreams configured');
  });
});
