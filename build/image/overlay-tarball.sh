#!/bin/bash
# Builds a tarball that installs rackboot onto an existing Raspberry Pi OS (or Debian)
# arm64 system, for boards the appliance image does not cover:
#
#   build/out/rackboot-arm64-overlay.tar.gz
#     rackboot-arm64/install.sh        run as root on the Pi: sudo ./install.sh
#     rackboot-arm64/files/...         files laid onto /: the bundle, Node.js and the native
#                                      addons for arm64 (/usr/lib/rackboot), the systemd units,
#                                      sysusers/tmpfiles entries, udev rules, the default config
#
# The appliance-only parts of rootfs-overlay (fstab with a read-only root, hostname, hosts,
# systemd-networkd files, the masked serial gettys, the journald limits) are left out:
# they would fight the host's own setup. install.sh says how to set the cluster port's
# address and free the UART instead (docs/image.md).
#
# Usage: build/image/overlay-tarball.sh [OUTPUT_FILE]

set -euo pipefail

fail() {
  echo "overlay-tarball: error: $*" >&2
  exit 1
}
say() { echo "overlay-tarball: $*"; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUTPUT=${1:-$REPO/build/out/rackboot-arm64-overlay.tar.gz}
[ -f "$REPO/build/out/rackboot.mjs" ] || fail "build/out/rackboot.mjs is missing: run make build first"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rbimg-overlay.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/rackboot-arm64
FILES=$STAGE/files
mkdir -p "$FILES/usr/lib/rackboot"

bash "$REPO/build/image/arm64-runtime.sh" "$FILES/usr/lib/rackboot"
install -m 0644 "$REPO/build/out/rackboot.mjs" "$FILES/usr/lib/rackboot/rackboot.mjs"

# The host-neutral part of the overlay.
OVERLAY_FILES=(
  usr/bin/rackboot
  usr/lib/systemd/system/rackboot.service
  usr/lib/sysusers.d/rackboot.conf
  usr/lib/tmpfiles.d/rackboot.conf
  usr/lib/udev/rules.d/60-rackboot.rules
  etc/rackboot/rackboot.yaml
)
for f in "${OVERLAY_FILES[@]}"; do
  [ -e "$REPO/rootfs-overlay/$f" ] || fail "rootfs-overlay/$f is missing"
  mkdir -p "$FILES/$(dirname "$f")"
  cp -a "$REPO/rootfs-overlay/$f" "$FILES/$f"
done
mkdir -p "$FILES/usr/share/doc/rackboot"
cp "$REPO/docs/image.md" "$REPO/docs/hardware.md" "$FILES/usr/share/doc/rackboot/"
install -m 0755 "$REPO/build/image/install.sh" "$STAGE/install.sh"

mkdir -p "$(dirname "$OUTPUT")"
tar -C "$WORK" --owner=0 --group=0 --sort=name -czf "$OUTPUT" rackboot-arm64
echo "overlay tarball: $OUTPUT ($(du -h "$OUTPUT" | cut -f1))"
