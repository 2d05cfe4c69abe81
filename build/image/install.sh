#!/bin/sh
# Installs rackboot onto this Raspberry Pi OS (or Debian) arm64 system from the overlay
# tarball (build/image/overlay-tarball.sh): sudo ./install.sh
#
# Keeps an existing /etc/rackboot/rackboot.yaml. Starts rackboot when the config is valid.
# Does not touch the network setup or the serial console: it prints what to do.
set -eu

fail() { echo "install: error: $*" >&2; exit 1; }
say() { echo "install: $*"; }

HERE=$(cd "$(dirname "$0")" && pwd)
FILES=$HERE/files
[ "$(id -u)" = 0 ] || fail "run as root: sudo $0"
[ -d "$FILES/usr/lib/rackboot" ] || fail "$FILES is incomplete: unpack the whole tarball"
arch=$(uname -m)
[ "$arch" = aarch64 ] || fail "this is a $arch system; the tarball is for 64-bit ARM (aarch64)"
command -v systemctl >/dev/null || fail "systemd is required"

say "installing /usr/lib/rackboot, the systemd unit, udev rules, user and directories"
rm -rf /usr/lib/rackboot
cp -a "$FILES/usr/lib/rackboot" /usr/lib/rackboot
for f in usr/bin/rackboot usr/lib/systemd/system/rackboot.service usr/lib/sysusers.d/rackboot.conf \
  usr/lib/tmpfiles.d/rackboot.conf usr/lib/udev/rules.d/60-rackboot.rules; do
  mkdir -p "/$(dirname "$f")"
  cp -a "$FILES/$f" "/$f"
done
mkdir -p /usr/share/doc/rackboot && cp "$FILES"/usr/share/doc/rackboot/* /usr/share/doc/rackboot/
mkdir -p /etc/rackboot
if [ -e /etc/rackboot/rackboot.yaml ]; then
  say "keeping /etc/rackboot/rackboot.yaml (the new default is /usr/share/doc/rackboot/rackboot.yaml.default)"
  cp "$FILES/etc/rackboot/rackboot.yaml" /usr/share/doc/rackboot/rackboot.yaml.default
else
  cp "$FILES/etc/rackboot/rackboot.yaml" /etc/rackboot/rackboot.yaml
fi

systemd-sysusers /usr/lib/sysusers.d/rackboot.conf
systemd-tmpfiles --create /usr/lib/tmpfiles.d/rackboot.conf
# boot.root in the default config is /srv/rackboot: the boot files live with the state.
if [ ! -e /srv/rackboot ]; then
  mkdir -p /srv && ln -s /var/lib/rackboot/boot /srv/rackboot
fi
systemctl enable rackboot.service

/usr/bin/rackboot --version
valid=yes
/usr/bin/rackboot check-config /etc/rackboot/rackboot.yaml || valid=no
if [ ! -d /run/systemd/system ]; then
  # Installing into an image or a chroot: the units start at the next boot.
  say "systemd is not running here; rackboot starts at the next boot"
elif [ "$valid" = yes ]; then
  udevadm control --reload
  udevadm trigger --subsystem-match=gpio --subsystem-match=tty --action=add
  systemctl daemon-reload
  systemctl restart rackboot.service
  say "rackboot is running: journalctl -u rackboot -f"
else
  say "fix /etc/rackboot/rackboot.yaml, then: systemctl restart rackboot"
fi

iface=$(sed -n 's/^interface:[[:space:]]*\([^#[:space:]]*\).*/\1/p' /etc/rackboot/rackboot.yaml | head -n 1)
address=$(sed -n 's/^server_address:[[:space:]]*\([^#[:space:]]*\).*/\1/p' /etc/rackboot/rackboot.yaml | head -n 1)
cat <<EOF

Next steps (see /usr/share/doc/rackboot/image.md):
  * Give the cluster port ${iface:-eth0} its static address${address:+ $address}, e.g. with NetworkManager:
      nmcli connection add type ethernet ifname ${iface:-eth0} con-name rackboot-cluster \\
        ipv4.method manual ipv4.addresses ${address:-10.0.0.1}/24 ipv6.method disabled
  * To use the serial console for rackboot, turn off the login on the UART:
      raspi-config nonint do_serial_cons 1     (keeps the UART enabled, without a login)
EOF
