// The `sipedge` command: parses arguments, calls provisioning or starts the edge, prints, returns an exit code.
// What each command does lives in auth/provisioning.ts (accounts) and app.ts (the running edge).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { systemClock } from '../clock.ts';
import { SipedgeError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import { openStores } from '../store/open.ts';
import type { Stores } from '../store/types.ts';
import { parseDuration, parseExtensionRef, Provisioning } from '../auth/provisioning.ts';
import { ensureDemo } from './demo.ts';
import { formatUpstreamStatus, upstreamStatus } from './upstream-status.ts';
import { formatNodes, nodeRows } from './nodes.ts';

interface Command {
  usage: string;
  summary: string;
  options: NonNullable<ParseArgsConfig['options']>;
  positionals: number;
  run(ctx: Context, args: string[], opts: Record<string, string | boolean | undefined>): Promise<number>;
}

interface Context {
  config: Readonly<Config>;
  out: (s: string) => void;
  err: (s: string) => void;
}

const GLOBAL = '  --config FILE   JSON config file (default: $SIPEDGE_CONFIG, else built-in defaults)\n  -h, --help      this help';

// Each command loads the modules it needs when it runs (the edge, the media pipeline, argon2, zod for the config, the
// store): `sipedge --help` and a usage error load none of them and start in about the time of a bare node.
const COMMANDS: Record<string, Command> = {
  start: {
    usage: 'sipedge start [--local-rtpengine]',
    summary:
      'run the edge in the foreground (SIGTERM/SIGINT: stop accepting, finish transactions, exit 0); --local-rtpengine: ' +
      'when media.rtpengine is empty and rtpengine is installed, run one beside the edge (WebRTC calls to desk phones)',
    options: { 'local-rtpengine': { type: 'boolean' } },
    positionals: 0,
    run: async (ctx, _args, o) => (await import('./start.ts')).runStart(ctx.config, ctx.err, { localRtpengine: o['local-rtpengine'] === true }),
  },
  demo: {
    usage: 'sipedge demo',
    summary: 'create the demo tenant and extensions 1001, 1002 if missing; prints their VoIP passwords once',
    options: {},
    positionals: 0,
    run: (ctx) =>
      withProvisioning(ctx, async (p, stores) => {
        const [{ LoginAccounts }, { LoginHasher }] = await Promise.all([import('../auth/login-accounts.ts'), import('../auth/login-password.ts')]);
        return ensureDemo(p, stores, new LoginAccounts(stores, new LoginHasher(ctx.config.gateway.argon2), ctx.config.gateway, systemClock), ctx.out);
      }),
  },
  'tenant add': {
    usage: 'sipedge tenant add CODE --domain DOMAIN',
    summary: 'add a tenant; DOMAIN is its SIP domain and digest realm',
    options: { domain: { type: 'string' } },
    positionals: 1,
    run: (ctx, [code], o) =>
      withProvisioning(ctx, async (p) => {
        if (typeof o.domain !== 'string') throw usage('tenant add needs --domain DOMAIN');
        const t = await p.addTenant(code!, o.domain);
        ctx.out(`tenant ${t.code} added (domain ${t.domain})`);
        return 0;
      }),
  },
  'tenant list': {
    usage: 'sipedge tenant list',
    summary: 'list tenants',
    options: {},
    positionals: 0,
    run: (ctx) =>
      withProvisioning(ctx, async (_p, stores) => {
        for (const t of await stores.accounts.listTenants()) ctx.out(`${t.code}\t${t.domain}`);
        return 0;
      }),
  },
  import: {
    usage: 'sipedge import FILE.csv',
    summary: 'bulk create/update extensions from CSV: header tenant,extension,voip_password[,email]; all rows or none',
    options: {},
    positionals: 1,
    run: (ctx, [file]) =>
      withProvisioning(ctx, async (p) => {
        let text: string;
        try {
          text = readFileSync(file!, 'utf8');
        } catch (e) {
          throw new SipedgeError('SIPEDGE_ERR_IMPORT_INVALID', `import: cannot read ${file}: ${(e as NodeJS.ErrnoException).code}`);
        }
        const r = await p.importCsv(text);
        ctx.out(`imported ${r.created + r.updated} extensions (${r.created} created, ${r.updated} updated)`);
        return 0;
      }),
  },
  'ext add': {
    usage: 'sipedge ext add EXT@TENANT [--email ADDRESS] [--password PASSWORD]',
    summary: 'add an extension; prints its VoIP password once (generated unless --password is given)',
    options: { email: { type: 'string' }, password: { type: 'string' } },
    positionals: 1,
    run: (ctx, [ref], o) =>
      withProvisioning(ctx, async (p) => {
        const r = parseExtensionRef(ref!);
        const { password } = await p.addExtension(r, {
          email: o.email as string | undefined,
          password: o.password as string | undefined,
        });
        ctx.err(`extension ${r.ext}@${r.tenant} added; its VoIP password (shown once):`);
        ctx.out(password);
        return 0;
      }),
  },
  'ext rotate': {
    usage: 'sipedge ext rotate EXT@TENANT [--grace 10m] [--drop-bindings]',
    summary: 'new random VoIP password, printed once; --grace keeps the old one working that long',
    options: { grace: { type: 'string' }, 'drop-bindings': { type: 'boolean' } },
    positionals: 1,
    run: (ctx, [ref], o) =>
      withProvisioning(ctx, async (p) => {
        const r = parseExtensionRef(ref!);
        const graceMs = typeof o.grace === 'string' ? parseDuration(o.grace, '--grace') : 0;
        const { password } = await p.rotate(r, { graceMs, dropBindings: o['drop-bindings'] === true });
        const grace = graceMs > 0 ? `the old password works until ${new Date(Date.now() + graceMs).toISOString()}` : 'the old password no longer works';
        ctx.err(`new VoIP password for ${r.ext}@${r.tenant} (shown once; ${grace}${o['drop-bindings'] ? '; registrations dropped' : ''}):`);
        ctx.out(password);
        return 0;
      }),
  },
  'ext unlock': {
    usage: 'sipedge ext unlock EXT@TENANT',
    summary: 'clear a lockout of the extension',
    options: {},
    positionals: 1,
    run: (ctx, [ref]) =>
      withProvisioning(ctx, async (p) => {
        const r = parseExtensionRef(ref!);
        await p.unlock(r);
        ctx.out(`extension ${r.ext}@${r.tenant} unlocked`);
        return 0;
      }),
  },
  unban: {
    usage: 'sipedge unban ADDRESS',
    summary: "lift a source address's ban on every running node (flood, scanner User-Agent, failures on many extensions)",
    options: {},
    positionals: 1,
    run: (ctx, [address]) => {
      if (isIP(address!) === 0) throw usage(`unban: "${address}" is not an IPv4 or IPv6 address`);
      return withProvisioning(ctx, async (p) => {
        await p.unban(address!);
        ctx.out(`${address} unbanned`);
        return 0;
      });
    },
  },
  'ext login-password': {
    usage: 'sipedge ext login-password EXT@TENANT [--password PASSWORD]',
    summary: 'set the gateway login password (checked against the tenant policy); generated and printed once if not given; ends its sessions',
    options: { password: { type: 'string' } },
    positionals: 1,
    run: async (ctx, [ref], o) => (await import('./login.ts')).runLoginPassword(ctx.config, ref!, o.password as string | undefined, ctx.out, ctx.err),
  },
  'ext role': {
    usage: 'sipedge ext role EXT@TENANT ROLE',
    summary: 'set the gateway role: user (own extension), tenant-admin (its tenant) or operator (every tenant)',
    options: {},
    positionals: 2,
    run: async (ctx, [ref, role]) => (await import('./login.ts')).runRole(ctx.config, ref!, role!, ctx.out),
  },
  'ext reset-2fa': {
    usage: 'sipedge ext reset-2fa EXT@TENANT',
    summary: 'turn TOTP 2FA off for an extension that lost its authenticator',
    options: {},
    positionals: 1,
    run: async (ctx, [ref]) => (await import('./login.ts')).runResetTotp(ctx.config, ref!, ctx.out),
  },
  'ext show': {
    usage: 'sipedge ext show EXT@TENANT [--json]',
    summary: 'show an extension (never its password); with the Redis store also its lock and registrations',
    options: { json: { type: 'boolean' } },
    positionals: 1,
    run: (ctx, [ref], o) =>
      withProvisioning(ctx, async (p, stores) => {
        const live = ctx.config.store === 'redis';
        const r = parseExtensionRef(ref!);
        const v: Awaited<ReturnType<typeof p.show>> & { upstream?: string } = await p.show(r, live);
        if (live && ctx.config.upstreams.length > 0) v.upstream = (await stores.upstreamChoices.get(`${r.ext}@${r.tenant}`))?.upstream ?? 'none chosen yet';
        if (o.json) {
          ctx.out(JSON.stringify(v, null, 2));
          return 0;
        }
        for (const [k, val] of Object.entries(v)) {
          if (val === undefined || k === 'bindings') continue;
          ctx.out(`${k.padEnd(20)} ${String(val)}`);
        }
        if (v.bindings) {
          ctx.out(`${'registrations'.padEnd(20)} ${v.bindings.length}`);
          for (const b of v.bindings) ctx.out(`  ${b.contact}  ${b.transport} from ${b.source}, expires in ${b.expiresIn}s, node ${b.node}${b.nodeAddress ? ` (${b.nodeAddress})` : ''}`);
        } else ctx.out(`${'registrations'.padEnd(20)} held by the running edge (embedded store): see its /metrics`);
        if (!live && ctx.config.upstreams.length > 0) ctx.out(`${'upstream'.padEnd(20)} held by the running edge (embedded store)`);
        return 0;
      }),
  },
  'moh upload': {
    usage: 'sipedge moh upload FILE --tenant T --class hold|queue',
    summary: 'convert a WAV or MP3 and make it the tenant\'s active hold or queue music (refused files keep the old one)',
    options: { tenant: { type: 'string' }, class: { type: 'string' } },
    positionals: 1,
    run: async (ctx, [file], o) => {
      if (typeof o.tenant !== 'string' || typeof o.class !== 'string') throw usage('moh upload needs --tenant T and --class hold|queue');
      return (await import('./moh.ts')).mohUpload(ctx.config, file!, o.tenant, o.class, ctx.out, ctx.err);
    },
  },
  'moh status': {
    usage: 'sipedge moh status [--tenant T] [--all] [--json]',
    summary: 'hold-music versions per tenant and class: the active and pending ones, then the 5 most recent others (retired, failed with the reason; --all: every one kept), with times',
    options: { tenant: { type: 'string' }, all: { type: 'boolean' }, json: { type: 'boolean' } },
    positionals: 0,
    run: async (ctx, _a, o) => (await import('./moh.ts')).mohStatus(ctx.config, o.tenant as string | undefined, o.all === true, o.json === true, ctx.out),
  },
  health: {
    usage: 'sipedge health',
    summary: "asks the running edge's /healthz on the configured HTTP address (http.listen); exit 0 when it answers 200 (container health checks)",
    options: {},
    positionals: 0,
    run: async (ctx) => (await import('./health.ts')).runHealth(ctx.config, ctx.out, ctx.err),
  },
  'upstream status': {
    usage: 'sipedge upstream status [--json]',
    summary: "the configured upstreams, each one's state as the running edge sees it, and (Redis store) the extensions it holds and every node's view",
    options: { json: { type: 'boolean' } },
    positionals: 0,
    run: async (ctx, _args, o) => {
      const stores = ctx.config.store === 'redis' ? await openStores(ctx.config, { role: 'cli', clock: systemClock }) : undefined;
      try {
        const rows = await upstreamStatus(ctx.config, stores?.upstreamChoices, stores?.nodes);
        if (o.json) ctx.out(JSON.stringify(rows, null, 2));
        else for (const line of formatUpstreamStatus(rows)) ctx.out(line);
        return 0;
      } finally {
        await stores?.close();
      }
    },
  },
  nodes: {
    usage: 'sipedge nodes [--json]',
    summary: 'the nodes of a deployment on the Redis store: address, live or dead, age, connections, registrations, upstreams up',
    options: { json: { type: 'boolean' } },
    positionals: 0,
    run: async (ctx, _args, o) => {
      if (ctx.config.store !== 'redis') {
        ctx.out('one node: the running edge (the node registry is shared through the Redis store; store is "memory")');
        return 0;
      }
      const stores = await openStores(ctx.config, { role: 'cli', clock: systemClock });
      try {
        const rows = await nodeRows(ctx.config, stores, systemClock.now());
        if (o.json) ctx.out(JSON.stringify(rows, null, 2));
        else for (const line of formatNodes(rows)) ctx.out(line);
        return 0;
      } finally {
        await stores.close();
      }
    },
  },
};

function usage(msg: string): SipedgeError {
  return new SipedgeError('SIPEDGE_ERR_CLI_USAGE', msg);
}

async function withProvisioning(ctx: Context, fn: (p: Provisioning, stores: Stores) => Promise<number>): Promise<number> {
  const stores = await openStores(ctx.config, { role: 'cli', clock: systemClock });
  try {
    return await fn(new Provisioning(stores, ctx.config.auth, systemClock), stores);
  } finally {
    await stores.close();
  }
}

function mainHelp(): string {
  const lines = ['usage: sipedge [--config FILE] COMMAND [ARGS]', '', 'commands:'];
  for (const c of Object.values(COMMANDS)) lines.push(`  ${c.usage}\n      ${c.summary}`);
  lines.push('', 'options:', GLOBAL, '', 'Run "sipedge COMMAND --help" for one command. Environment overrides: see README.');
  return lines.join('\n');
}

/** Runs the CLI; returns the process exit code (0 ok, 1 failed, 2 usage). */
export async function main(argv: string[], io?: { out?: (s: string) => void; err?: (s: string) => void }): Promise<number> {
  const out = io?.out ?? ((s: string) => process.stdout.write(`${s}\n`));
  const err = io?.err ?? ((s: string) => process.stderr.write(`${s}\n`));
  // Global --config may come before the command.
  let configFile: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config') configFile = argv[++i];
    else if (argv[i]!.startsWith('--config=')) configFile = argv[i]!.slice('--config='.length);
    else rest.push(argv[i]!);
  }
  const words = rest.filter((a) => !a.startsWith('-'));
  const name = COMMANDS[`${words[0]} ${words[1]}`] ? `${words[0]} ${words[1]}` : words[0];
  const cmd = name ? COMMANDS[name] : undefined;
  if (!cmd) {
    if (rest.length === 0 || rest.includes('--help') || rest.includes('-h')) {
      out(mainHelp());
      return rest.length === 0 ? 2 : 0;
    }
    const group = words[0] === 'ext' || words[0] === 'tenant' || words[0] === 'moh' || words[0] === 'upstream' ? words[0] : undefined;
    err(
      group
        ? `sipedge: unknown ${group} command "${words[1] ?? ''}"; see "sipedge --help"`
        : `sipedge: unknown command "${words[0] ?? rest[0]}"; see "sipedge --help"`,
    );
    return 2;
  }
  const args = rest.slice(rest.indexOf(words[0]!) + name!.split(' ').length);
  if (args.includes('--help') || args.includes('-h')) {
    out(`usage: ${cmd.usage}\n\n${cmd.summary}\n\noptions:\n${GLOBAL}`);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options: cmd.options, allowPositionals: true, strict: true });
  } catch (e) {
    err(`sipedge: ${(e as Error).message}\nusage: ${cmd.usage}`);
    return 2;
  }
  if (parsed.positionals.length !== cmd.positionals) {
    err(`sipedge: expected ${cmd.positionals} argument(s), got ${parsed.positionals.length}\nusage: ${cmd.usage}`);
    return 2;
  }
  try {
    const config = (await import('../config/load.ts')).loadConfig({ file: configFile });
    return await cmd.run({ config, out, err }, parsed.positionals, parsed.values as Record<string, string | boolean | undefined>);
  } catch (e) {
    if (e instanceof SipedgeError) {
      // One line per problem (a config can have several), each with the code, so each stands alone in a log.
      for (const line of e.message.split('\n')) err(`sipedge: ${line} (${e.code})`);
      return e.code === 'SIPEDGE_ERR_CLI_USAGE' ? 2 : 1;
    }
    err(`sipedge: unexpected error: ${(e as Error)?.stack ?? String(e)}`);
    return 1;
  }
}
