// Test fixture: a real edge started through createApp() (as `sipedge start` does) on loopback port 0,
// with a temp data dir, a provisioned tenant, captured pino logs, and the store of choice (memory or redis).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { inject } from 'vitest';
import { createApp, type App, type AppOptions } from '../../src/app.ts';
import { systemClock, type Clock } from '../../src/clock.ts';
import { loadConfig, type DeepPartial } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { REDACT_PATHS } from '../../src/observability/logger.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { Provisioning } from '../../src/auth/provisioning.ts';
import { NextMatch } from './next-match.ts';
import type { MemoryStores } from '../../src/store/memory/index.ts';
import { openStores } from '../../src/store/open.ts';
import type { Stores } from '../../src/store/types.ts';

export interface TestEdge {
  app: App;
  config: Readonly<Config>;
  udpPort: number;
  tcpPort: number;
  wsPort: number;
  httpPort: number;
  /** SIP over TLS, WSS and HTTPS (self-signed certificate in the data dir unless the test sets tls.certFile). */
  tlsPort: number;
  wssPort: number;
  httpsPort: number;
  logs: string[];
  /** The first log line (already written or still to come) that matches; fails after timeoutMs. */
  waitForLog(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /**
   * Provisioning through a separate 'cli'-role store, as the `sipedge` CLI does. With the embedded store the edge then
   * reads the CLI's journal records at once (as its tailer would within 250 ms); Redis needs no catching up.
   */
  cli<T>(fn: (p: Provisioning) => Promise<T>): Promise<T>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

let prefixCounter = 0;

export async function startEdge(
  opts: { store?: 'memory' | 'redis'; overrides?: DeepPartial<Config>; dataDir?: string; clock?: Clock; transcoder?: AppOptions['transcoder']; inspectHttp?: AppOptions['inspectHttp'] } = {},
): Promise<TestEdge> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'sipedge-edge-'));
  const store = opts.store ?? 'memory';
  const base: DeepPartial<Config> = {
    dataDir,
    store,
    redis: { url: `redis://127.0.0.1:${store === 'redis' ? inject('redisPort') : 6379}`, keyPrefix: `t${process.pid}x${prefixCounter++}:` },
    sip: { udp: '127.0.0.1:0', tcp: '127.0.0.1:0', ws: '127.0.0.1:0', tls: '127.0.0.1:0', wss: '127.0.0.1:0' },
    http: { listen: '127.0.0.1:0', https: '127.0.0.1:0' },
    log: { level: 'debug' },
  };
  const config = loadConfig({ env: {}, overrides: [base, opts.overrides ?? {}] });
  const logs: string[] = [];
  const logLines = new NextMatch<string>();
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) {
        if (!l) continue;
        logs.push(l);
        logLines.feed(l);
      }
      cb();
    },
  });
  const logger = pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[REDACTED]' } }, sink);
  const app = await createApp(config, { logger, metrics: new Metrics(), clock: opts.clock, transcoder: opts.transcoder, inspectHttp: opts.inspectHttp });
  const a = await app.start();
  const httpPort = a.http!.port;
  const httpHost = a.http!.address;
  return {
    app,
    config,
    udpPort: a.udp!.port,
    tcpPort: a.tcp!.port,
    wsPort: a.ws!.port,
    httpPort,
    tlsPort: a.tls?.port ?? 0,
    wssPort: a.wss?.port ?? 0,
    httpsPort: a.https?.port ?? 0,
    logs,
    waitForLog(match, timeoutMs = 5000) {
      const seen = logs.find(match);
      return seen !== undefined ? Promise.resolve(seen) : logLines.next(match, timeoutMs, 'matching log line');
    },
    async cli(fn) {
      const stores = await openStores(config, { role: 'cli', clock: systemClock });
      try {
        return await fn(new Provisioning(stores, config.auth, systemClock));
      } finally {
        await stores.close();
        if (isMemoryStores(app.stores)) app.stores.catchUp();
      }
    },
    async metric(name, labels = {}) {
      const text = await (await fetch(`http://${httpHost}:${httpPort}/metrics`)).text();
      let total = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const rest = line.slice(name.length);
        if (rest[0] !== '{' && rest[0] !== ' ') continue;
        if (Object.entries(labels).every(([k, v]) => rest.includes(`${k}="${v}"`))) total += Number(line.split(' ').pop());
      }
      return total;
    },
    async stop() {
      await app.stop();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function isMemoryStores(stores: Stores): stores is MemoryStores {
  return 'catchUp' in stores;
}

/** Polls `fn` until it returns true or the deadline passes (for effects that cross processes). */
export async function eventually(fn: () => Promise<boolean> | boolean, timeoutMs = 3000, stepMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
