#!/bin/sh
# dhclient-script for tests: applies the address to the interface inside the
# test's namespace (never touching the host's /etc/resolv.conf) and appends
# one line per event to $RACKBOOT_TEST_EVENTS:  REASON IP MASK_BITS? LEASE
log() { [ -n "$RACKBOOT_TEST_EVENTS" ] && echo "$*" >> "$RACKBOOT_TEST_EVENTS"; }
case "$reason" in
  PREINIT)
    ip link set dev "$interface" up ;;
  BOUND|RENEW|REBIND|REBOOT)
    if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
      ip -4 addr flush dev "$interface"
    fi
    ip -4 addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" valid_lft "${new_dhcp_lease_time:-forever}" preferred_lft "${new_dhcp_lease_time:-forever}"
    log "$reason $new_ip_address $new_subnet_mask $new_dhcp_lease_time host=$new_host_name" ;;
  EXPIRE|FAIL|RELEASE|STOP)
    [ -n "$old_ip_address" ] && ip -4 addr del "$old_ip_address/$old_subnet_mask" dev "$interface" 2>/dev/null
    log "$reason $old_ip_address" ;;
  *) log "$reason" ;;
esac
exit 0
