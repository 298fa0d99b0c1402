#!/usr/bin/env bash
# Installs what sipedge needs on Debian: npm packages, the portal bundle (build/portal/, rebuilt when missing or older
# than src/portal/) and the optional native parts (RTP sender, SIP UDP I/O; always; without a C compiler the edge runs
# on dgram), and with --test the tools the test suite runs for real (SIPp = sip-tester, redis-server, sox, lame,
# Chromium for the portal's browser tests, and gcc so that the native parts are built and tested). Idempotent; fails
# loudly when an install fails. --test also brings the SIP-over-TLS clients the suite drives (sipsak, linphonec from
# linphone-cli, also used for Linphone provisioning, and socat as the TLS client in front of SIPp, whose Debian build
# has no TLS).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
if [ "${1:-}" = "--test" ]; then
  command -v sipp >/dev/null 2>&1 || need_apt+=(sip-tester)
  command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
  command -v sox >/dev/null 2>&1 || need_apt+=(sox)
  command -v lame >/dev/null 2>&1 || need_apt+=(lame)
  # Debian's Chromium, driven by playwright-core (which never downloads a browser of its own).
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  command -v sipsak >/dev/null 2>&1 || need_apt+=(sipsak)
  command -v linphonec >/dev/null 2>&1 || need_apt+=(linphone-cli)
  command -v socat >/dev/null 2>&1 || need_apt+=(socat)
  # baresip 1.0, registered by the suite with the default challenge policy.
  command -v baresip >/dev/null 2>&1 || need_apt+=(baresip-core)
  command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}" >&2
  if [ "$(id -u)" != 0 ]; then echo "sipedge: installing ${need_apt[*]} needs root (apt-get)" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# npm packages: install when node_modules is missing or older than the lockfile.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

# build/portal/: `npm ci` builds it (the prepare script); rebuilt here when src/portal/ changed since.
node scripts/build-portal.mjs --if-stale

# build/native/rtp_send.node (hold-music batch send) and sip_udp.node (SIP UDP I/O): required for the tests, optional
# for running the edge.
if [ "${1:-}" = "--test" ]; then node scripts/build-native.mjs --require; else node scripts/build-native.mjs; fi
