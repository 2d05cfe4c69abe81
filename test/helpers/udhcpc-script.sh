#!/bin/sh
# udhcpc script for tests: like dhclient-script.sh, one line per event in $RACKBOOT_TEST_EVENTS.
log() { [ -n "$RACKBOOT_TEST_EVENTS" ] && echo "$*" >> "$RACKBOOT_TEST_EVENTS"; }
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set dev "$interface" up; log deconfig ;;
  bound|renew)
    ip -4 addr replace "$ip/$mask" dev "$interface"
    log "$1 $ip $mask $lease host=$hostname boot_file=$boot_file siaddr=$siaddr" ;;
  *) log "$1" ;;
esac
exit 0
