#!/bin/bash
# Builds the arm64 half of the firmware tests' boot payload (build/payload.sh runs it):
#
#   $1/grubaa64.efi    GRUB's arm64-efi network image, made here with grub-mkimage from
#                      Debian's grub-efi-arm64-bin modules: the boot program rackboot hands
#                      every arm64 UEFI node (Debian 12 has no arm64 iPXE). Its embedded
#                      configuration reads rackboot's generated grub/grub.cfg from the
#                      server it was loaded from: over TFTP after PXE, over HTTP after
#                      UEFI HTTP Boot
#   $1/vmlinuz         Debian's arm64 kernel (linux-image-<abi>-arm64), an EFI-stub Image
#   $1/initrd.img      the x86 initrd X86_INITRD (build/payload.sh: its /init calls back
#                      rackboot.booted=URL) with arm64 static busybox (busybox-static:arm64)
#                      and the arm64 virtio-net driver in place of the amd64 ones
#   $1/.payload-stamp  what it was built from; when it still matches, nothing is rebuilt
#
# Nothing is installed and the host's apt configuration is not changed: apt runs with a
# private package list for the arm64 architecture ($1/.apt, from the host's sources),
# `apt-get download` fetches the packages and `dpkg-deb -x` unpacks them. grub-mkimage
# comes from grub-common (amd64, Makefile APT_PACKAGES) and is pointed at the unpacked
# arm64-efi module directory with -d.
#
# Usage: build/payload-arm64.sh DIR X86_INITRD        (FORCE=1 rebuilds regardless of the stamp)

set -euo pipefail

fail() {
  echo "payload-arm64: error: $*" >&2
  exit 1
}
say() { echo "payload-arm64: $*"; }

[ $# -eq 2 ] && [ -n "$1" ] && [ -s "$2" ] || fail "usage: $0 OUTPUT_DIR X86_INITRD"
mkdir -p "$1" || fail "cannot create $1"
OUT=$(cd "$1" && pwd)
X86_INITRD=$(readlink -f "$2")

for tool in apt-cache apt-get dpkg-deb gzip sha256sum grub-mkimage busybox; do
  command -v "$tool" >/dev/null || fail "'$tool' not found (grub-mkimage: the Debian package grub-common)"
done

# GRUB's modules in the image: the network (efinet: the firmware's NIC; net, tftp, http),
# Linux boot (linux), the configuration language (normal, configfile, test, regexp, echo,
# sleep, reboot, halt; `exit` back to the firmware is built in) and the memdisk
# holding rackboot.cfg (memdisk, tar).
GRUB_MODULES=(efinet net tftp http linux normal configfile test regexp echo sleep reboot halt memdisk tar)

# --- A private apt for arm64 -----------------------------------------------------------
APT_DIR="$OUT/.apt"
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
APT_OPTS=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Dir::State::Lists="$APT_DIR/lists" -o Dir::Cache="$APT_DIR/cache"
  -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)")
resolve_kernel() { apt-cache "${APT_OPTS[@]}" depends linux-image-arm64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-arm64\)$/\1/p' | head -n1 || true; }
candidate() { apt-cache "${APT_OPTS[@]}" policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | head -n1 || true; }

outputs_present() { [ -s "$OUT/grubaa64.efi" ] && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.img" ] && [ -f "$OUT/.payload-stamp" ]; }

KERNEL_PKG=$(resolve_kernel)
if [ -z "$KERNEL_PKG" ] || [ -n "${FORCE:-}" ] || ! outputs_present; then
  say "updating the private arm64 package list in $APT_DIR"
  if ! apt-get "${APT_OPTS[@]}" update -qq >"$APT_DIR/update.log" 2>&1; then
    outputs_present && { say "warning: apt-get update failed; keeping the existing arm64 payload in $OUT"; exit 0; }
    fail "apt-get update (arm64) failed:
$(cat "$APT_DIR/update.log")"
  fi
  KERNEL_PKG=$(resolve_kernel)
fi
[ -n "$KERNEL_PKG" ] || fail "cannot resolve linux-image-arm64 to a kernel package in the arm64 package list ($APT_DIR)"
KERNEL_VERSION=$(candidate "$KERNEL_PKG")
BUSYBOX_VERSION=$(candidate busybox-static)
GRUB_VERSION=$(candidate grub-efi-arm64-bin)
for v in "$KERNEL_PKG=$KERNEL_VERSION" "busybox-static=$BUSYBOX_VERSION" "grub-efi-arm64-bin=$GRUB_VERSION"; do
  case "$v" in *= | *"=(none)") fail "no installable arm64 version of ${v%%=*}" ;; esac
done

SCRIPT_SUM=$(cat "${BASH_SOURCE[0]}" "$X86_INITRD" | sha256sum | cut -d' ' -f1)
STAMP_TEXT="script=$SCRIPT_SUM
kernel=$KERNEL_PKG $KERNEL_VERSION
busybox=busybox-static:arm64 $BUSYBOX_VERSION
grub=grub-efi-arm64-bin $GRUB_VERSION $(grub-mkimage --version)"

if [ -z "${FORCE:-}" ] && outputs_present && [ "$(cat "$OUT/.payload-stamp")" = "$STAMP_TEXT" ]; then
  say "up to date in $OUT ($KERNEL_PKG $KERNEL_VERSION, grub-efi-arm64-bin $GRUB_VERSION)"
  exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rackboot-payload-arm64.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
say "downloading $KERNEL_PKG=$KERNEL_VERSION, busybox-static:arm64=$BUSYBOX_VERSION, grub-efi-arm64-bin=$GRUB_VERSION"
(cd "$WORK" && apt-get "${APT_OPTS[@]}" download -q "$KERNEL_PKG=$KERNEL_VERSION" "busybox-static=$BUSYBOX_VERSION" "grub-efi-arm64-bin=$GRUB_VERSION" \
  >"$WORK/apt.log" 2>&1) || fail "apt-get download (arm64) failed:
$(cat "$WORK/apt.log")"
mkdir -p "$WORK/kernel" "$WORK/busybox" "$WORK/grub"
dpkg-deb -x "$WORK"/linux-image-*_arm64.deb "$WORK/kernel" || fail "cannot unpack the arm64 kernel package"
dpkg-deb -x "$WORK"/busybox-static_*_arm64.deb "$WORK/busybox" || fail "cannot unpack busybox-static:arm64"
dpkg-deb -x "$WORK"/grub-efi-arm64-bin_*_arm64.deb "$WORK/grub" || fail "cannot unpack grub-efi-arm64-bin"
VMLINUZ=$(ls "$WORK"/kernel/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
[ -n "$VMLINUZ" ] || fail "$KERNEL_PKG has no boot/vmlinuz-*"
BUSYBOX="$WORK/busybox/bin/busybox"
[ -s "$BUSYBOX" ] || fail "busybox-static:arm64 has no bin/busybox"
GRUB_MODDIR="$WORK/grub/usr/lib/grub/arm64-efi"
[ -s "$GRUB_MODDIR/efinet.mod" ] || fail "grub-efi-arm64-bin has no usr/lib/grub/arm64-efi/efinet.mod"

# --- GRUB network image ------------------------------------------------------------------
# GRUB runs an embedded configuration (-c) with its rescue parser, which has no `if`: it
# only enters normal mode on rackboot.cfg, kept in the image's memdisk (-m). With a
# memdisk, GRUB's prefix is (memdisk)/boot/grub, so rackboot.cfg sets root and prefix
# itself, from the device GRUB was loaded from ($cmdpath): (tftp,SERVER) after PXE,
# (http,SERVER) after UEFI HTTP Boot (efinet has the firmware's DHCP answer in both),
# else TFTP on the DHCP answer's server; then reads rackboot's generated
# $prefix/grub.cfg (boot-policy/grub-config.ts), and reboots if it cannot.
mkdir -p "$WORK/memdisk"
cat >"$WORK/memdisk/rackboot.cfg" <<'CFG'
echo "rackboot: loaded from $cmdpath; server $net_default_server"
net_ls_addr
regexp --set=1:rb_dev '^\(([^)]*)\)' "$cmdpath"
if regexp '^(tftp|http),' "$rb_dev"; then
  set root="$rb_dev"
elif [ -n "$net_default_server" ]; then
  set root="tftp,$net_default_server"
fi
set prefix="($root)/grub"
echo "rackboot: reading $prefix/grub.cfg"
configfile "$prefix/grub.cfg"
echo "rackboot: could not read $prefix/grub.cfg; rebooting in 10 seconds"
sleep 10
reboot
CFG
tar -C "$WORK/memdisk" -cf "$WORK/memdisk.tar" rackboot.cfg
echo 'normal (memdisk)/rackboot.cfg' >"$WORK/early.cfg"
grub-mkimage -O arm64-efi -d "$GRUB_MODDIR" -p /grub -c "$WORK/early.cfg" -m "$WORK/memdisk.tar" -o "$WORK/grubaa64.efi" "${GRUB_MODULES[@]}" ||
  fail "grub-mkimage -O arm64-efi failed"

# --- Initrd ------------------------------------------------------------------------------
# The x86 initrd (build/payload.sh) unpacked: its /init, udhcpc script and busybox applet
# links, with the arm64 busybox (the same Debian version, so the same applets) and arm64
# NIC drivers in place of the amd64 ones. The host's busybox (package busybox) does the cpio.
ROOT="$WORK/initrd"
mkdir -p "$ROOT"
(cd "$ROOT" && gzip -dc "$X86_INITRD" | busybox cpio -i -d 2>/dev/null) || fail "cannot unpack $X86_INITRD"
[ -x "$ROOT/init" ] && [ -f "$ROOT/bin/busybox" ] || fail "$X86_INITRD has no /init or bin/busybox"
cp "$BUSYBOX" "$ROOT/bin/busybox"
MODULES_DIR=$(ls -d "$WORK"/kernel/lib/modules/* 2>/dev/null | head -n1 || true)
[ -n "$MODULES_DIR" ] || fail "$KERNEL_PKG has no lib/modules/*"
rm -rf "$ROOT/lib/modules"
mkdir -p "$ROOT/lib/modules"
: >"$ROOT/lib/modules/load-order"
for module in failover net_failover virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_net; do
  ko=$(find "$MODULES_DIR" -name "$module.ko" -o -name "$module.ko.xz" -o -name "$module.ko.zst" | head -n1)
  [ -n "$ko" ] || continue
  case "$ko" in
    *.ko) cp "$ko" "$ROOT/lib/modules/$module.ko" ;;
    *.xz) xz -dc "$ko" >"$ROOT/lib/modules/$module.ko" || fail "cannot unpack $ko" ;;
    *.zst) zstd -dcq "$ko" >"$ROOT/lib/modules/$module.ko" || fail "cannot unpack $ko" ;;
  esac
  echo "$module" >>"$ROOT/lib/modules/load-order"
done
grep -qx virtio_net "$ROOT/lib/modules/load-order" || fail "$KERNEL_PKG has no virtio_net module"
(cd "$ROOT" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | busybox cpio -o -H newc -R 0:0 2>/dev/null) | gzip -9n >"$WORK/initrd.img" ||
  fail "cannot write the arm64 initrd"

install -m 644 "$WORK/grubaa64.efi" "$OUT/grubaa64.efi"
install -m 644 "$VMLINUZ" "$OUT/vmlinuz"
install -m 644 "$WORK/initrd.img" "$OUT/initrd.img"
printf '%s\n' "$STAMP_TEXT" >"$OUT/.payload-stamp"
say "grubaa64.efi <- grub-mkimage -O arm64-efi (grub-efi-arm64-bin $GRUB_VERSION: ${GRUB_MODULES[*]})"
say "vmlinuz <- $(basename "$VMLINUZ"); initrd.img <- busybox-static:arm64 $BUSYBOX_VERSION ($(stat -c %s "$OUT/initrd.img") bytes)"
