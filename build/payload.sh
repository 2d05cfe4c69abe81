#!/bin/bash
# Builds the boot payload the firmware tests boot over the network:
#
#   $1/vmlinuz         Debian's kernel (package linux-image-<abi>-amd64, the one linux-image-amd64 points at)
#   $1/initrd.img      gzip'ed newc cpio: static busybox, the e1000 and virtio-net drivers
#                      and an /init that prints
#                        RACKBOOT-NODE-UP cmdline=<contents of /proc/cmdline>
#                      on the console (and ttyS0); when the command line carries
#                      rackboot.booted=URL (rackboot adds it), brings up eth0 with
#                      udhcpc and calls URL, as a booted OS would; then powers off,
#                      or with rackboot.stay=1 stays up (answering ARP and ping) like a
#                      running node until it is killed
#   $1/undionly.kpxe, $1/ipxe.efi, $1/snponly.efi
#                      Debian's iPXE builds (package ipxe), so the directory is a complete boot root
#   $1/shimx64.efi, $1/grubx64.efi
#                      the Secure Boot chain Debian signs: shim (package shim-signed, signed by
#                      Microsoft's UEFI CA) and GRUB's network image (grub-efi-amd64-signed,
#                      grubnetx64.efi.signed, signed by Debian), under the names shim loads
#   $1/.payload-stamp  what it was built from; when it still matches, nothing is rebuilt
#   $1/arm64/          the arm64 UEFI payload (GRUB network image, arm64 kernel, the same
#                      initrd with arm64 busybox): build/payload-arm64.sh, run after this
#
# Nothing is installed on the host: the kernel and busybox packages are fetched with
# `apt-get download` and unpacked with `dpkg-deb -x` in a temporary directory. The
# cpio archive is written by the unpacked busybox itself, so no cpio package is needed.
# The initrd carries only the NIC drivers the QEMU nodes use (e1000 for SeaBIOS + iPXE,
# virtio-net for OVMF) and their dependencies.
#
# Usage: build/payload.sh DIR        (FORCE=1 rebuilds regardless of the stamp)

set -euo pipefail

fail() {
  echo "payload: error: $*" >&2
  exit 1
}
say() { echo "payload: $*"; }
# Every successful end of this script builds (or finds up to date) the arm64 payload too.
arm64_and_exit() {
  bash "$(dirname "${BASH_SOURCE[0]}")/payload-arm64.sh" "$OUT/arm64" "$OUT/initrd.img"
  exit 0
}

[ $# -eq 1 ] && [ -n "$1" ] || fail "usage: $0 OUTPUT_DIR"
OUT=$1
IPXE_DIR=${IPXE_DIR:-/usr/lib/ipxe}
IPXE_FILES=(undionly.kpxe ipxe.efi snponly.efi)
MARKER=RACKBOOT-NODE-UP

for tool in apt-cache apt-get dpkg-deb gzip sha256sum; do
  command -v "$tool" >/dev/null || fail "'$tool' not found (this script expects a Debian host)"
done

# --- What would we build? ---------------------------------------------------------
# linux-image-amd64 is a metapackage; its dependency names the real, versioned kernel.
resolve_kernel() { apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1 || true; }
candidate() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | head -n1 || true; }
KERNEL_PKG=$(resolve_kernel)
if [ -z "$KERNEL_PKG" ] && [ "$(id -u)" = 0 ] && ! [ -s "$OUT/vmlinuz" ]; then
  # A fresh machine may have no package lists yet.
  say "apt knows no linux-image-amd64; running apt-get update"
  apt-get update -qq >/dev/null 2>&1 || true
  KERNEL_PKG=$(resolve_kernel)
fi
KERNEL_VERSION=""
BUSYBOX_VERSION=""
SHIM_VERSION=""
GRUB_VERSION=""
if [ -n "$KERNEL_PKG" ]; then
  KERNEL_VERSION=$(candidate "$KERNEL_PKG")
  BUSYBOX_VERSION=$(candidate busybox-static)
  SHIM_VERSION=$(candidate shim-signed)
  GRUB_VERSION=$(candidate grub-efi-amd64-signed)
fi

ipxe_sums() {
  local f
  for f in "${IPXE_FILES[@]}"; do
    if [ -f "$IPXE_DIR/$f" ]; then sha256sum "$IPXE_DIR/$f" | cut -d' ' -f1; else echo "absent"; fi
  done | tr '\n' ' '
}

SCRIPT_SUM=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
STAMP_TEXT="script=$SCRIPT_SUM
kernel=$KERNEL_PKG $KERNEL_VERSION
busybox=busybox-static $BUSYBOX_VERSION
shim=shim-signed $SHIM_VERSION
grub=grub-efi-amd64-signed $GRUB_VERSION
ipxe=$(ipxe_sums)"

outputs_present() {
  [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.img" ] && [ -s "$OUT/shimx64.efi" ] && [ -s "$OUT/grubx64.efi" ] && [ -f "$OUT/.payload-stamp" ]
}

if [ -z "${FORCE:-}" ] && outputs_present; then
  if [ -z "$KERNEL_PKG" ] || [ -z "$KERNEL_VERSION" ] || [ "$KERNEL_VERSION" = "(none)" ]; then
    say "apt cannot resolve linux-image-amd64 now; keeping the existing payload in $OUT"
    arm64_and_exit
  fi
  if [ "$(cat "$OUT/.payload-stamp")" = "$STAMP_TEXT" ]; then
    say "up to date in $OUT ($KERNEL_PKG $KERNEL_VERSION, busybox-static $BUSYBOX_VERSION)"
    arm64_and_exit
  fi
fi

[ -n "$KERNEL_PKG" ] || fail "cannot resolve linux-image-amd64 to a kernel package (apt-cache depends linux-image-amd64); run apt-get update?"
[ -n "$KERNEL_VERSION" ] && [ "$KERNEL_VERSION" != "(none)" ] || fail "no installable version of $KERNEL_PKG (apt-cache policy $KERNEL_PKG); run apt-get update?"
[ -n "$BUSYBOX_VERSION" ] && [ "$BUSYBOX_VERSION" != "(none)" ] || fail "no installable version of busybox-static (apt-cache policy busybox-static); run apt-get update?"
[ -n "$SHIM_VERSION" ] && [ "$SHIM_VERSION" != "(none)" ] || fail "no installable version of shim-signed (apt-cache policy shim-signed); run apt-get update?"
[ -n "$GRUB_VERSION" ] && [ "$GRUB_VERSION" != "(none)" ] || fail "no installable version of grub-efi-amd64-signed (apt-cache policy grub-efi-amd64-signed); run apt-get update?"

mkdir -p "$OUT" || fail "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rackboot-payload.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- Fetch and unpack (no installation) -------------------------------------------
say "downloading $KERNEL_PKG=$KERNEL_VERSION, busybox-static=$BUSYBOX_VERSION, shim-signed=$SHIM_VERSION, grub-efi-amd64-signed=$GRUB_VERSION"
# apt drops privileges to _apt for downloads; a private temp dir is not writable for
# it, so download as the invoking user instead (quietly, no sandbox warning).
if ! (cd "$WORK" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$KERNEL_PKG=$KERNEL_VERSION" "busybox-static=$BUSYBOX_VERSION" \
  "shim-signed=$SHIM_VERSION" "grub-efi-amd64-signed=$GRUB_VERSION" >"$WORK/apt.log" 2>&1); then
  if outputs_present; then
    say "warning: apt-get download failed; keeping the existing (older) payload in $OUT:"
    sed 's/^/payload:   /' "$WORK/apt.log"
    arm64_and_exit
  fi
  fail "apt-get download failed:
$(cat "$WORK/apt.log")"
fi
KERNEL_DEB=$(ls "$WORK"/linux-image-*.deb 2>/dev/null | head -n1 || true)
BUSYBOX_DEB=$(ls "$WORK"/busybox-static_*.deb 2>/dev/null | head -n1 || true)
SHIM_DEB=$(ls "$WORK"/shim-signed_*.deb 2>/dev/null | head -n1 || true)
GRUB_DEB=$(ls "$WORK"/grub-efi-amd64-signed_*.deb 2>/dev/null | head -n1 || true)
[ -n "$KERNEL_DEB" ] && [ -n "$BUSYBOX_DEB" ] && [ -n "$SHIM_DEB" ] && [ -n "$GRUB_DEB" ] || fail "apt-get download produced no .deb files:
$(cat "$WORK/apt.log")"

mkdir -p "$WORK/kernel" "$WORK/busybox" "$WORK/shim" "$WORK/grub"
dpkg-deb -x "$KERNEL_DEB" "$WORK/kernel" || fail "cannot unpack $KERNEL_DEB"
dpkg-deb -x "$BUSYBOX_DEB" "$WORK/busybox" || fail "cannot unpack $BUSYBOX_DEB"
dpkg-deb -x "$SHIM_DEB" "$WORK/shim" || fail "cannot unpack $SHIM_DEB"
dpkg-deb -x "$GRUB_DEB" "$WORK/grub" || fail "cannot unpack $GRUB_DEB"
SHIM="$WORK/shim/usr/lib/shim/shimx64.efi.signed"
GRUB="$WORK/grub/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"
[ -s "$SHIM" ] || fail "shim-signed has no usr/lib/shim/shimx64.efi.signed"
[ -s "$GRUB" ] || fail "grub-efi-amd64-signed has no usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"
VMLINUZ=$(ls "$WORK"/kernel/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
[ -n "$VMLINUZ" ] || fail "$KERNEL_PKG has no boot/vmlinuz-*"
BUSYBOX="$WORK/busybox/bin/busybox"
[ -x "$BUSYBOX" ] || fail "busybox-static has no executable bin/busybox"

# --- Initrd ------------------------------------------------------------------------
ROOT="$WORK/initrd"
mkdir -p "$ROOT"/{bin,sbin,dev,proc,sys,tmp,run}
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$ROOT/bin/$applet"
done
# The kernel opens /dev/console for init before /init runs; without the node init
# starts with no stdio. mknod needs root; if we are not root, /init still mounts
# devtmpfs and reopens the console itself.
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$ROOT/dev/null" c 1 3 2>/dev/null || true

# NIC drivers, in load order (dependencies first); a module the kernel has built in is simply absent.
MODULES_DIR=$(ls -d "$WORK"/kernel/lib/modules/* 2>/dev/null | head -n1 || true)
[ -n "$MODULES_DIR" ] || fail "$KERNEL_PKG has no lib/modules/*"
mkdir -p "$ROOT/lib/modules"
: >"$ROOT/lib/modules/load-order"
for module in failover net_failover virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_net e1000; do
  ko=$(find "$MODULES_DIR" -name "$module.ko" -o -name "$module.ko.xz" -o -name "$module.ko.zst" | head -n1)
  [ -n "$ko" ] || continue
  case "$ko" in
    *.ko) cp "$ko" "$ROOT/lib/modules/$module.ko" ;;
    *.xz) xz -dc "$ko" >"$ROOT/lib/modules/$module.ko" || fail "cannot unpack $ko" ;;
    *.zst) zstd -dcq "$ko" >"$ROOT/lib/modules/$module.ko" || fail "cannot unpack $ko" ;;
  esac
  echo "$module" >>"$ROOT/lib/modules/load-order"
done
grep -qx e1000 "$ROOT/lib/modules/load-order" || fail "$KERNEL_PKG has no e1000 module"

# udhcpc configures the address with this script (busybox has no default one in the initrd).
mkdir -p "$ROOT/etc"
cat >"$ROOT/etc/udhcpc.script" <<'DHCP'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
    ;;
esac
exit 0
DHCP
chmod 755 "$ROOT/etc/udhcpc.script"

cat >"$ROOT/init" <<'INIT'
#!/bin/sh
# rackboot test node: report the kernel command line on the serial console, then power off
# (with rackboot.stay=1: stay up, as a running OS does).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
# Keep kernel messages from splitting the marker line on the serial port.
echo 1 >/proc/sys/kernel/printk
CMDLINE=$(cat /proc/cmdline)
# The marker goes to the console; if the console is not the first serial port
# (a command line without console=ttyS0), to ttyS0 as well.
TARGETS=/dev/console
grep -qw ttyS0 /sys/class/tty/console/active 2>/dev/null || TARGETS="$TARGETS /dev/ttyS0"
marker() {
  for t in $TARGETS; do printf '\r\n@MARKER@ cmdline=%s\r\n' "$CMDLINE" >"$t" 2>/dev/null; done
}
marker
sync
marker
sync
# Tell the boot server we are up, as a booted OS would (rackboot puts the URL on the command line).
BOOTED_URL=
STAY=
for word in $CMDLINE; do
  case "$word" in
    rackboot.booted=*) BOOTED_URL=${word#rackboot.booted=} ;;
    rackboot.stay=1) STAY=yes ;;
  esac
done
if [ -n "$BOOTED_URL" ]; then
  while read -r module; do insmod "/lib/modules/$module.ko" || echo "insmod $module failed"; done </lib/modules/load-order
  ip link set lo up
  ip link set eth0 up 2>/dev/null
  # A booted OS keeps trying: its DHCP (a busy site server, a slow emulated NIC) and the callback.
  GOT_ADDRESS=
  for attempt in 1 2 3; do
    if udhcpc -i eth0 -n -q -t 10 -T 3 -s /etc/udhcpc.script >/dev/null 2>&1; then GOT_ADDRESS=yes; break; fi
    echo "@MARKER@-DHCP attempt $attempt: no address"
  done
  if [ -n "$GOT_ADDRESS" ]; then
    # Plain HTTP/1.0 over nc: busybox-static's wget crashes when a connect times out.
    REST=${BOOTED_URL#http://}
    HOSTPORT=${REST%%/*}
    URLPATH=/${REST#*/}
    HOST=${HOSTPORT%:*}
    PORT=80
    [ "$HOSTPORT" != "$HOST" ] && PORT=${HOSTPORT##*:}
    for attempt in 1 2 3 4 5; do
      ANSWER=$(printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$URLPATH" "$HOSTPORT" | nc -w 10 "$HOST" "$PORT" 2>&1 | head -n1)
      case "$ANSWER" in *" 204 "*) break ;; esac
      echo "@MARKER@-BOOTED-CALLBACK attempt $attempt: $ANSWER"
      sleep 2
    done
    echo "@MARKER@-BOOTED-CALLBACK $ANSWER"
  else
    echo "@MARKER@-BOOTED-CALLBACK no address from DHCP; links: $(ip -o link | cut -d' ' -f2 | tr '\n' ' ')"
    dmesg | tail -n 8
  fi
fi
# A node asked to stay keeps its address and answers ARP and ping until it is killed.
if [ -n "$STAY" ]; then
  echo "@MARKER@-STAYING up"
  while :; do sleep 3600; done
fi
# Power off (QEMU exits); if that ever fails, keep saying we are up.
while :; do
  poweroff -f
  sleep 2
  marker
done
INIT
sed -i "s/@MARKER@/$MARKER/" "$ROOT/init"
chmod 755 "$ROOT/init"

say "writing initrd.img (busybox $BUSYBOX_VERSION, $("$BUSYBOX" --list | wc -l) applets)"
(cd "$ROOT" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -9n >"$WORK/initrd.img" ||
  fail "cannot write the initrd cpio archive"
gzip -dc "$WORK/initrd.img" | "$BUSYBOX" cpio -t 2>/dev/null | grep -qx init || fail "the initrd archive has no /init"

# --- Install into OUT ----------------------------------------------------------------
install -m 644 "$VMLINUZ" "$OUT/vmlinuz.new" && mv -f "$OUT/vmlinuz.new" "$OUT/vmlinuz"
install -m 644 "$WORK/initrd.img" "$OUT/initrd.img.new" && mv -f "$OUT/initrd.img.new" "$OUT/initrd.img"
say "vmlinuz    <- $(basename "$VMLINUZ") ($(stat -c %s "$OUT/vmlinuz") bytes)"
say "initrd.img <- busybox-static $BUSYBOX_VERSION ($(stat -c %s "$OUT/initrd.img") bytes)"
# shim loads grubx64.efi from the directory it was loaded from: the signed network GRUB under that name.
install -m 644 "$SHIM" "$OUT/shimx64.efi"
install -m 644 "$GRUB" "$OUT/grubx64.efi"
say "shimx64.efi <- shim-signed $SHIM_VERSION; grubx64.efi <- grub-efi-amd64-signed $GRUB_VERSION (grubnetx64.efi.signed)"

copied=0
for f in "${IPXE_FILES[@]}"; do
  if [ -f "$IPXE_DIR/$f" ]; then
    install -m 644 "$IPXE_DIR/$f" "$OUT/$f"
    say "$f <- $IPXE_DIR/$f"
    copied=$((copied + 1))
  else
    rm -f "$OUT/$f"
    say "warning: $IPXE_DIR/$f not found (package ipxe); skipped"
  fi
done
[ "$copied" -gt 0 ] || fail "no iPXE binaries in $IPXE_DIR; install the Debian package ipxe"

printf '%s\n' "$STAMP_TEXT" >"$OUT/.payload-stamp"
say "done: $OUT"
arm64_and_exit
