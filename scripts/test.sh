#!/usr/bin/env bash
# The whole test suite on Node 24 LTS (scripts/node24.sh): installs SIPp, redis-server, Chromium, linphone-cli, rtpengine (Debian) and npm packages when missing,
# builds the portal when stale, typechecks the edge and the portal, runs vitest.
# .ci/run calls exactly this. The last line is the plain "N passed, N failed" summary.
set -euo pipefail
cd "$(dirname "$0")/.."
# Node 24 LTS first on PATH (installed into tools/node24 when missing): npm ci, the native parts and vitest run on it.
source scripts/node24.sh
echo "node $(node --version) ($(command -v node))" >&2
bash scripts/install-deps.sh --test
npx tsc --noEmit -p tsconfig.json
npx tsc --noEmit -p src/portal/tsconfig.json
report="$(mktemp -d)/vitest.json"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
if [ -f "$report" ]; then
  # A test file whose setup failed has no failed test of its own: its tests are counted as failed here.
  node -e 'const r = require(process.argv[1]);
    const broken = r.testResults.filter((f) => f.status === "failed" && f.assertionResults.every((t) => t.status !== "failed"));
    for (const f of broken) console.log(`failed before its tests ran: ${f.name}: ${(f.message || "").split("\n")[0]}`);
    const notRun = broken.reduce((n, f) => n + f.assertionResults.length, 0);
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests + notRun} failed`);' "$report"
fi
exit "$status"
