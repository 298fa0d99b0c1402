#!/usr/bin/env bash
# Starts sipedge on Node 24 LTS on the embedded store with the demo tenant, installing Node 24, npm packages (and
# rtpengine) first when needed.
# Extra arguments go to `sipedge start` (e.g. --config FILE); listen addresses follow config/env (README).
# --local-rtpengine: when media.rtpengine is not configured, the edge runs rtpengine beside itself (README "WebRTC media").
set -euo pipefail
cd "$(dirname "$0")/.."
# Node 24 LTS first on PATH (installed into tools/node24 when missing); everything below runs on it.
source scripts/node24.sh
bash scripts/install-deps.sh
node bin/sipedge.js demo "$@"
# --max-semi-space-size=64: see the comment at the top of bin/sipedge.js.
exec node --max-semi-space-size=64 bin/sipedge.js start --local-rtpengine "$@"
