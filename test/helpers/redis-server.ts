// A redis-server (or redis-sentinel) of a test's own, on a free port, for stories that freeze, kill or restart it
// (the run's shared server from global-setup.ts must never go away). Started in the foreground as a child, so its pid
// and its exit are events to await; "Ready to accept connections" in its output is the start event.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './global-setup.ts';

export interface RedisServerOptions {
  /** Keep data on disk across a kill (append-only file, fsync always); default false: a restart comes back empty. */
  persistent?: boolean;
  /** Extra config lines (e.g. "replicaof 127.0.0.1 6379"). */
  config?: string[];
  /** Run as a sentinel (redis-sentinel) instead of a data server. */
  sentinel?: boolean;
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly o: RedisServerOptions,
  ) {}

  static async start(o: RedisServerOptions = {}): Promise<RedisServer> {
    const s = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'sipedge-redis-own-')), o);
    await s.run();
    return s;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  /** SIGSTOP: the server keeps its sockets open and answers nothing. */
  freeze(): void {
    process.kill(this.pid, 'SIGSTOP');
  }

  thaw(): void {
    process.kill(this.pid, 'SIGCONT');
  }

  /** SIGKILL, resolved once the process is gone. */
  async kill(): Promise<void> {
    if (this.child === undefined || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Starts it again on the same port; `empty` first removes what it kept on disk (a restart that lost its data). */
  async restart(opts: { empty?: boolean } = {}): Promise<void> {
    await this.kill();
    if (opts.empty) {
      rmSync(this.dir, { recursive: true, force: true });
      mkdirSync(this.dir);
    }
    await this.run();
  }

  async stop(): Promise<void> {
    if (this.child !== undefined && this.child.signalCode === 'SIGSTOP') this.thaw();
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async run(): Promise<void> {
    const conf = join(this.dir, this.o.sentinel ? 'sentinel.conf' : 'redis.conf');
    const data = this.o.persistent ? ['save ""', 'appendonly yes', 'appendfsync always'] : ['save ""', 'appendonly no'];
    const lines = [`port ${this.port}`, 'bind 127.0.0.1', `dir ${this.dir}`, ...(this.o.sentinel ? [] : data), ...(this.o.config ?? [])];
    writeFileSync(conf, lines.join('\n') + '\n');
    const child = spawn(this.o.sentinel ? 'redis-sentinel' : 'redis-server', [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer): void => {
        out += d.toString();
        if (/Ready to accept connections|Sentinel ID is/.test(out)) {
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.resume();
      child.once('exit', (code) => reject(new Error(`${this.o.sentinel ? 'redis-sentinel' : 'redis-server'} on ${this.port} exited (${code}): ${out.slice(-500)}`)));
    });
  }
}
