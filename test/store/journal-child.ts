// A second process for the embedded store's tests (run with `node --import tsx`): imports batches, writes
// concurrently, or sends CLI commands, printing progress lines the parent test waits for or kills on.
import { writeSync } from 'node:fs';
import { systemClock } from '../../src/clock.ts';
import { SipedgeError } from '../../src/errors.ts';
import { openMemoryStores } from '../../src/store/memory/index.ts';
import { extension, tenant } from './contract.ts';

/** Prints one line synchronously, so the parent has it before this process can be killed. */
function say(line: string): void {
  writeSync(1, line + '\n');
}

async function addTenantOnce(add: Promise<void>): Promise<boolean> {
  try {
    await add;
    return true;
  } catch (err) {
    if (err instanceof SipedgeError && err.code === 'SIPEDGE_ERR_TENANT_EXISTS') return false;
    throw err;
  }
}

const [mode, dir, ...rest] = process.argv.slice(2);
if (mode === undefined || dir === undefined) throw new Error('usage: journal-child <mode> <dir> ...');
const stores = await openMemoryStores(dir, { role: 'cli', clock: systemClock });

if (mode === 'import') {
  // import <dir> <batches> <size> <run>: batch b holds extensions "run.b-0" .. "run.b-(size-1)" of tenant acme.
  const batches = Number(rest[0]);
  const size = Number(rest[1]);
  const run = rest[2] ?? 'r';
  await addTenantOnce(stores.accounts.addTenant(tenant('acme')));
  say('ready');
  for (let b = 0; b < batches; b++) {
    await stores.accounts.putExtensions(Array.from({ length: size }, (_, i) => extension('acme', `${run}.${b}-${i}`)));
    say(`done ${b}`);
  }
} else if (mode === 'concurrent') {
  // concurrent <dir> <tag> <count>: one extension per call into tenant "shared", a tenant every 50, one contested.
  const tag = rest[0] ?? 'x';
  const count = Number(rest[1]);
  let won = false;
  say('ready');
  for (let i = 0; i < count; i++) {
    await stores.accounts.putExtensions([extension('shared', `${tag}-${i}`)]);
    if (i % 50 === 0) await stores.accounts.addTenant(tenant(`${tag}-t${i}`));
    if (i === count / 2) won = await addTenantOnce(stores.accounts.addTenant(tenant('contested')));
  }
  say(JSON.stringify({ won }));
} else if (mode === 'cli-commands') {
  // cli-commands <dir> <key> <aor>: what `sipedge unlock` and `sipedge rotate --drop-bindings` would send.
  await stores.lockouts.unlock(rest[0] ?? '');
  await stores.bindings.removeAll(rest[1] ?? '');
  await stores.lockouts.unban('203.0.113.66');
  await stores.accounts.putExtensions([extension('acme', '2001')]);
  say('done');
} else {
  throw new Error(`journal-child: unknown mode ${mode}`);
}
await stores.close();
