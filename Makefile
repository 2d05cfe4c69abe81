# rackboot — every target installs what it needs on a fresh Debian 12 machine.
#   make setup   system packages + npm ci
#   make build   native addon + single-file bundle in build/out/
#   make test    type check + all tests (unit, integration in network namespaces)
#   make serve   build, then serve DHCP on INTERFACE with boot files from ROOT
#   make lab     build, then boot three virtual nodes from rackboot (no cluster needed)

SHELL := /bin/bash
.DEFAULT_GOAL := build

# Node 20 and npm 11 come with the machine. Debian packages: the compiler for the N-API addon, and the real clients and
# peers the integration tests run against (tests need root for network namespaces).
APT_PACKAGES := make g++ python3 iproute2 nftables tcpdump socat curl \
	isc-dhcp-client udhcpc busybox kea-admin dnsmasq-base tftp-hpa atftp iputils-ping ethtool \
	qemu-system-x86 ipxe-qemu ipxe ovmf chromium chromium-driver

NODE_GYP := node_modules/.bin/node-gyp
# Build against the headers of the node that runs rackboot (Debian's are in /usr/include/node).
NODEDIR := $(shell dirname "$$(dirname "$$(readlink -f "$$(command -v node)")")")
STAMP := node_modules/.rackboot-setup

.PHONY: setup apt build native bundle test typecheck unit integration clean serve payload lab

# The firmware tests' boot payload (Debian kernel + busybox initrd + iPXE binaries),
# downloaded with apt-get download, never installed on this machine.
PAYLOAD_DIR := node_modules/.cache/rackboot-payload

setup: $(STAMP)

$(STAMP): package.json package-lock.json Makefile
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	npm ci --no-audit --no-fund
	@touch $@

native: firmware/native/build/Release/rackboot_packet.node

firmware/native/build/Release/rackboot_packet.node: $(STAMP) firmware/native/packet.c firmware/native/binding.gyp
	$(NODE_GYP) rebuild --directory firmware/native --nodedir=$(NODEDIR)

bundle: native
	node build/bundle.mjs

build: bundle

typecheck: $(STAMP)
	node_modules/.bin/tsc --noEmit -p .

payload: $(STAMP)
	@mkdir -p node_modules/.cache
	flock node_modules/.cache/rackboot-payload.lock bash build/payload.sh $(PAYLOAD_DIR)

test: build typecheck payload
	node_modules/.bin/vitest run

# The main job in one command: make serve INTERFACE=eth1 ROOT=/srv/boot [KERNEL_ARGS='console=ttyS0']
serve: build
	@test -n "$(INTERFACE)" -a -n "$(ROOT)" || { echo "usage: make serve INTERFACE=eth1 ROOT=/srv/boot [KERNEL_ARGS=...]"; exit 2; }
	node build/out/rackboot.mjs serve --interface "$(INTERFACE)" --root "$(ROOT)" $(if $(KERNEL_ARGS),--kernel-args "$(KERNEL_ARGS)")

# rackboot on a virtual rack with three QEMU nodes (BIOS iPXE, UEFI PXE, UEFI HTTP)
# until Ctrl-C; ONCE=1 exits after all three booted. Needs root. See docs/lab.md.
lab: build payload
	node build/lab.mjs $(if $(ONCE),--once)

clean:
	rm -rf build/out firmware/native/build
