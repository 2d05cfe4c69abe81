#!/bin/bash
# Boots the appliance image under qemu-system-aarch64 (machine virt, TCG, direct kernel
# boot with the image's own vmlinuz and initrd.img from its boot partition) and waits until
# rackboot answers on its HTTP port from this host. Prints how long that took.
#
# The guest runs on a sparse copy of the image made 256 MiB larger, so the first-boot
# growth of the state partition is exercised too. Its cluster port is QEMU user-mode
# networking on 10.0.0.0/24 (rackboot keeps its default 10.0.0.1); the host reaches the
# guest's port 80 through a forwarded port on 127.0.0.1. Nothing leaves this machine.
#
# Usage: build/image/boot-test.sh [IMAGE]    (default build/out/image/rackboot-arm64.img)
# Environment: BOOT_TIMEOUT (seconds, default 900), HTTP_PORT (default 18080),
#              KEEP=1 leaves the work directory (console log, disk copy) behind.

set -euo pipefail

fail() {
  echo "boot-test: error: $*" >&2
  exit 1
}
say() { echo "boot-test: $*"; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IMAGE=${1:-$REPO/build/out/image/rackboot-arm64.img}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-900}
HTTP_PORT=${HTTP_PORT:-18080}
[ -f "$IMAGE" ] || fail "$IMAGE not found: run make image first"
for tool in qemu-system-aarch64 sfdisk mcopy curl debugfs node; do
  command -v "$tool" >/dev/null || fail "'$tool' not found (apt-get install qemu-system-arm mtools fdisk curl)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rbimg-boot.XXXXXX")
QEMU_PID=""
cleanup() {
  if [ -n "$QEMU_PID" ]; then kill "$QEMU_PID" 2>/dev/null || true; wait "$QEMU_PID" 2>/dev/null || true; fi
  if [ "${KEEP:-}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# The kernel and initrd from the FAT partition (partition 1), read with mtools at its offset.
BOOT_START=$(sfdisk --json "$IMAGE" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{console.log(JSON.parse(s).partitiontable.partitions[0].start)})')
MTOOLS_SKIP_CHECK=1 mcopy -i "$IMAGE@@$((BOOT_START * 512))" ::vmlinuz ::initrd.img ::cmdline.txt "$WORK/"
cp --sparse=always "$IMAGE" "$WORK/disk.img"
truncate -s +256M "$WORK/disk.img"

# The board's command line, with the console moved to the virt machine's PL011 UART.
CMDLINE=$(sed -e 's/console=[^ ]*//g' -e 's/  */ /g' "$WORK/cmdline.txt")
CMDLINE="$CMDLINE console=ttyAMA0"
say "booting $(basename "$IMAGE") under qemu-system-aarch64 -M virt (TCG): $CMDLINE"
started=$(date +%s)
qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 -nographic -no-reboot \
  -kernel "$WORK/vmlinuz" -initrd "$WORK/initrd.img" -append "$CMDLINE" \
  -drive if=none,id=disk,file="$WORK/disk.img",format=raw -device virtio-blk-pci,drive=disk \
  -netdev "user,id=cluster,net=10.0.0.0/24,host=10.0.0.2,dhcpstart=10.0.0.240,hostfwd=tcp:127.0.0.1:$HTTP_PORT-10.0.0.1:80" \
  -device virtio-net-pci,netdev=cluster \
  -serial "file:$WORK/console.log" -monitor none -display none </dev/null >"$WORK/qemu.log" 2>&1 &
QEMU_PID=$!

code=""
while :; do
  now=$(date +%s)
  kill -0 "$QEMU_PID" 2>/dev/null || { tail -n 40 "$WORK/console.log" >&2; fail "qemu exited before rackboot answered"; }
  [ $((now - started)) -lt "$BOOT_TIMEOUT" ] || { tail -n 60 "$WORK/console.log" >&2; fail "rackboot did not answer within ${BOOT_TIMEOUT}s"; }
  code=$(curl -s -o "$WORK/answer" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$HTTP_PORT/" || true)
  case $code in [1-5][0-9][0-9]) break ;; esac
  sleep 5
done
elapsed=$(($(date +%s) - started))

say "rackboot answered HTTP $code on the guest's port 80 after ${elapsed}s"

# The boot root on the state partition was seeded by tmpfiles from the image's ipxe package
# and is served through /srv/rackboot: fetch undionly.kpxe and compare it with the image's.
ROOT_START=$(sfdisk --json "$IMAGE" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{console.log(JSON.parse(s).partitiontable.partitions[1].start)})')
for pair in undionly.kpxe:/usr/lib/ipxe/undionly.kpxe ipxe.efi:/boot/ipxe.efi snponly.efi:/usr/lib/ipxe/snponly.efi; do
  name=${pair%%:*}
  debugfs -R "dump ${pair#*:} $WORK/$name.expected" "$IMAGE?offset=$((ROOT_START * 512))" 2>/dev/null
  curl -sf --max-time 60 -o "$WORK/$name.served" "http://127.0.0.1:$HTTP_PORT/$name" ||
    fail "rackboot does not serve /$name from its boot root"
  cmp -s "$WORK/$name.expected" "$WORK/$name.served" || fail "the served $name differs from the image's ${pair#*:}"
  say "served /$name ($(stat -c %s "$WORK/$name.served") bytes) from the boot root on the state partition"
done
grep -a -E 'rackboot|grow-state|network-from-config|Failed|FAILED|DEPEND' "$WORK/console.log" | grep -a -v 'http download' | tr -d '\r' | head -n 40 || true
if grep -a -q -E 'FAILED|DEPEND' "$WORK/console.log"; then
  fail "a unit failed during boot (console log above)"
fi
# First boot: rackboot prints the one-time setup token, and it reaches the serial console.
grep -a -q 'setup token' "$WORK/console.log" || fail "the setup token did not appear on the serial console"
say "the setup token appeared on the serial console"

# The first boot grew the state partition to the end of the (256 MiB larger) disk.
kill "$QEMU_PID" 2>/dev/null || true
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=""
disk_sectors=$(($(stat -c %s "$WORK/disk.img") / 512))
state_end=$(sfdisk --json "$WORK/disk.img" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const p=JSON.parse(s).partitiontable.partitions[2];console.log(p.start+p.size)})')
[ "$state_end" -eq "$disk_sectors" ] || fail "the state partition ends at sector $state_end, the disk at $disk_sectors: it was not grown"
say "the state partition was grown to the end of the disk"
echo "boot test: passed in ${elapsed}s"
