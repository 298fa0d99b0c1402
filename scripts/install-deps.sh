#!/usr/bin/env bash
# Installs what sipedge needs on Debian: npm packages, the portal bundle (build/portal/, rebuilt when missing or older
# than src/portal/), the edge built to JavaScript (dist/, likewise), the optional native parts (RTP sender, SIP UDP
# I/O; always; without a C compiler the edge runs on dgram), and with --test the tools the test suite runs for real
# (SIPp = sip-tester, redis-server, redis-sentinel, sox, lame, Chromium for the portal's browser tests, and gcc so
# that the native parts are built and tested). Idempotent; fails loudly when an install fails. --test also brings the
# SIP-over-TLS clients the suite drives (sipsak, linphonec from linphone-cli, also used for Linphone provisioning, and
# socat as the TLS client in front of SIPp, whose Debian build has no TLS), and promtool (prometheus) for the
# operator's kit in ops/.
# rtpengine (rtpengine-daemon, the media relay between browsers and desk phones) is installed in both cases: --test
# needs it (the WebRTC media tests run it) and fails without it; for `scripts/start.sh` it is what lets the portal's
# browser phone talk to desk phones and hear hold music, but the edge runs without it, so an install that cannot
# happen there (not root, no apt-get, no network) is reported and skipped.
# --bench brings what `npm run bench` runs: SIPp, gcc for the native parts, Chromium for the PNG charts of its reports,
# and Kamailio for `npm run bench -- --against kamailio`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--test" ] && ! command -v rtpengine >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian package: rtpengine-daemon (media relay for WebRTC calls)" >&2
    if ! (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends rtpengine-daemon >/dev/null); then
      echo "sipedge: could not install rtpengine-daemon: browsers cannot talk to desk phones or hear hold music until it is" >&2
    fi
  else
    echo "sipedge: rtpengine is not installed (Debian: apt-get install rtpengine-daemon, as root): browsers cannot talk to desk phones or hear hold music until it is" >&2
  fi
fi

need_apt=()
if [ "${1:-}" = "--test" ]; then
  command -v rtpengine >/dev/null 2>&1 || need_apt+=(rtpengine-daemon)
  command -v sipp >/dev/null 2>&1 || need_apt+=(sip-tester)
  command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
  # Redis Sentinel: the failover story starts a primary, a replica and three sentinels.
  command -v redis-sentinel >/dev/null 2>&1 || need_apt+=(redis-sentinel)
  command -v sox >/dev/null 2>&1 || need_apt+=(sox)
  command -v lame >/dev/null 2>&1 || need_apt+=(lame)
  # Debian's Chromium, driven by playwright-core (which never downloads a browser of its own).
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  command -v sipsak >/dev/null 2>&1 || need_apt+=(sipsak)
  command -v linphonec >/dev/null 2>&1 || need_apt+=(linphone-cli)
  command -v socat >/dev/null 2>&1 || need_apt+=(socat)
  # promtool (Debian's prometheus package) checks ops/prometheus/ and the edge's /metrics text.
  command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
  command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
  # baresip 1.0, registered by the suite with the default challenge policy.
  command -v baresip >/dev/null 2>&1 || need_apt+=(baresip-core)
fi
if [ "${1:-}" = "--bench" ]; then
  command -v sipp >/dev/null 2>&1 || need_apt+=(sip-tester)
  command -v kamailio >/dev/null 2>&1 || need_apt+=(kamailio)
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
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

# build/portal/ and dist/ (the edge as JavaScript, what bin/sipedge.js runs): `npm ci` builds them (the prepare
# script); rebuilt here when their sources changed since.
node scripts/build-portal.mjs --if-stale
node scripts/build-dist.mjs --if-stale

# build/native/rtp_send.node (hold-music batch send) and sip_udp.node (SIP UDP I/O): required for the tests, optional
# for running the edge.
if [ "${1:-}" = "--test" ]; then node scripts/build-native.mjs --require; else node scripts/build-native.mjs; fi
