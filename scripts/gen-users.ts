// `tsx scripts/gen-users.ts N TENANT DOMAIN OUTDIR`: writes a sipedge import CSV and the matching SIPp injection CSV.
// The file formats live in load-tests/lib/users.ts; provisioning is `sipedge tenant add` + `sipedge import`.
import { parseArgs } from 'node:util';
import { writeUserFiles } from '../load-tests/lib/users.ts';

const USAGE = `usage: tsx scripts/gen-users.ts N TENANT DOMAIN OUTDIR [--first-extension 1000] [--password-length 24]

Writes OUTDIR/sipedge-import.csv (tenant,extension,voip_password) for "sipedge import" and
OUTDIR/sipp-users.csv (SEQUENTIAL injection file) for "sipp -inf" with load-tests/sipp/register-*.xml.
Both hold plaintext test passwords (mode 0600): do not use them for real accounts.`;

function main(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'first-extension': { type: 'string', default: '1000' },
        'password-length': { type: 'string', default: '24' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    console.error(`gen-users: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  const [countText, tenant, domain, outDir] = parsed.positionals;
  if (parsed.positionals.length !== 4 || !countText || !tenant || !domain || !outDir) {
    console.error(`gen-users: expected 4 arguments, got ${parsed.positionals.length}\n${USAGE}`);
    return 2;
  }
  const count = Number(countText);
  const firstExtension = Number(parsed.values['first-extension']);
  const passwordLength = Number(parsed.values['password-length']);
  try {
    const files = writeUserFiles({ count, tenant, domain, outDir, firstExtension, passwordLength });
    console.log(`wrote ${files.users.length} users\n  import: ${files.importCsv}\n  sipp:   ${files.sippCsv}`);
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
