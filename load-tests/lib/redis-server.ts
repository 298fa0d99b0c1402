// A redis-server of a load run's own (run-redis.ts, run-ws-clients.ts --nodes): a free port on 127.0.0.1, nothing
// saved, optionally pinned with taskset; resolves once it answers PING.
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freeTcpPort } from './edge-process.ts';

export interface RunningRedis {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** redis-server on a free port, nothing saved, pinned with taskset when cpus is given; resolves once it answers PING. */
export async function startRedis(cpus: string, dir: string): Promise<RunningRedis> {
  const port = await freeTcpPort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const child = cpus === '' ? spawn('redis-server', args, { stdio: 'ignore' }) : spawn('taskset', ['-c', cpus, 'redis-server', ...args], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  for (let i = 0; ; i++) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch {
      if (i >= 50) throw new Error(`redis-server on port ${port} did not answer PING within 5 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  probe.disconnect();
  return {
    url,
    pid: child.pid ?? -1,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
