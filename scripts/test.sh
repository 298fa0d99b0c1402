#!/usr/bin/env bash
# The whole test suite: installs SIPp, redis-server (Debian) and npm packages when missing, typechecks, runs vitest.
# .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
npx tsc --noEmit -p tsconfig.json
npx vitest run "$@"
