# rackboot — every target installs what it needs on a fresh Debian 12 machine.
#   make setup   system packages + npm ci
#   make build   native addon + single-file bundle in build/out/
#   make test    type check, lint (eslint, prettier, folder layers) + all tests (unit, integration in network namespaces)
#   make lint    eslint, prettier --check and build/check-layers.mjs
#   make unit    type check + the tests that need no root
#   make integration  the tests in network namespaces, with real clients and QEMU (root)
#   make serve   build, then serve DHCP on INTERFACE with boot files from ROOT
#   make lab     build, then boot three virtual nodes from rackboot (no cluster needed)
#   make bench   rackboot against dnsmasq, tftpd-hpa, Kea and nginx on one link (docs/bench.md)
#   make fuzz    every fuzz target for FUZZ_SECONDS each, then 100 kills of a real rackboot (docs/fuzzing.md)
#   make image   the arm64 appliance image for a Raspberry Pi 4 (docs/image.md)

SHELL := /bin/bash
.DEFAULT_GOAL := build

# Node 20 and npm 11 come with the machine. Debian packages: the compiler for the N-API addon, and the real clients and
# peers the integration tests run against (tests need root for network namespaces).
APT_PACKAGES := make g++ python3 iproute2 nftables tcpdump socat curl \
	isc-dhcp-client udhcpc busybox kea-admin dnsmasq-base tftp-hpa atftp iputils-ping ethtool \
	qemu-system-x86 ipxe-qemu ipxe ovmf qemu-system-arm qemu-efi-aarch64 grub-common chromium chromium-driver systemd tmux strace

NODE_GYP := node_modules/.bin/node-gyp
# Build against the headers of the node that runs rackboot (Debian's are in /usr/include/node).
NODEDIR := $(shell dirname "$$(dirname "$$(readlink -f "$$(command -v node)")")")
STAMP := node_modules/.rackboot-setup

.PHONY: setup apt build native bundle test typecheck lint unit integration clean serve payload lab bench fuzz image overlay-tarball image-check image-boot-test image-apt

# The firmware tests' boot payload (Debian kernel + busybox initrd + iPXE binaries, shim + GRUB, and the arm64
# kernel, initrd and GRUB network image; grub-mkimage from grub-common builds the last),
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

# The static checks: typescript-eslint's type-aware rules, Prettier's format, and the folder layers
# (build/check-layers.mjs fails on any import of a folder that is not below, or a cycle; docs/architecture.md).
lint: $(STAMP)
	node build/check-layers.mjs
	node_modules/.bin/prettier --check --log-level warn .
	node_modules/.bin/eslint --max-warnings 0 .

payload: $(STAMP)
	@mkdir -p node_modules/.cache
	flock node_modules/.cache/rackboot-payload.lock bash build/payload.sh $(PAYLOAD_DIR)

# `make test` runs every test file in one vitest run; `unit` and `integration` split the same files in two.
# unit: no root needed (test/unit, and the web UI in headless Chromium against the in-memory fake API).
# integration: root, network namespaces, real clients and QEMU (test/integration, the web UI on a real rackboot).
UNIT_TESTS := test/unit test/web/ui.test.ts
INTEGRATION_TESTS := test/integration test/web/real-rackboot.test.ts

# Tests that mostly wait (a booted VM left running while a recovery waits out a silence) run in a second vitest
# process beside the serial main run: they use namespaces of their own and little CPU while they wait. Their log is
# printed after the main run's.
BESIDE_TESTS := test/integration/forged-recovery.test.ts test/integration/power-lab.test.ts

test: build typecheck lint payload
	@mkdir -p build/out; node_modules/.bin/vitest run $(BESIDE_TESTS) > build/out/beside-tests.log 2>&1 & beside=$$!; \
	node_modules/.bin/vitest run $(addprefix --exclude ,$(BESIDE_TESTS)); main=$$?; \
	wait $$beside; besides=$$?; \
	echo "---- run beside the others: $(BESIDE_TESTS)"; cat build/out/beside-tests.log; \
	test $$main -eq 0 -a $$besides -eq 0

unit: build typecheck lint
	node_modules/.bin/vitest run $(UNIT_TESTS)

integration: build payload
	node_modules/.bin/vitest run $(INTEGRATION_TESTS)

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

FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 1
KILL_LOOP ?= 100

# Every fuzz target for FUZZ_SECONDS each (docs/fuzzing.md); `make test` runs a short fixed-input smoke run of the same targets.
# Then the kill loop against the real bundle with KILL_LOOP kills (`make test` runs it with a dozen).
fuzz: bundle
	node test/fuzz/run.mjs --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS)
	RACKBOOT_KILL_LOOP=$(KILL_LOOP) node_modules/.bin/vitest run test/integration/crash-kill-loop.test.ts

# The appliance image and the Raspberry Pi OS tarball (docs/image.md). Root; the arm64
# root file system is built under qemu-user emulation (12-20 minutes).
IMAGE_APT_PACKAGES := mmdebstrap qemu-user-static binfmt-support arch-test g++-aarch64-linux-gnu \
	dosfstools mtools e2fsprogs fdisk file bmap-tools debian-archive-keyring
IMAGE_TEST_APT_PACKAGES := qemu-system-arm curl

image-apt:
	@missing=""; for p in $(IMAGE_APT_PACKAGES) $(if $(BOOT_TEST),$(IMAGE_TEST_APT_PACKAGES)); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

image: build image-apt
	bash build/image/build-image.sh

# Checks the image `make image` wrote: partitions, file systems, the files rackboot needs.
image-check: $(STAMP)
	node_modules/.bin/vitest run --config vitest.image.config.ts

overlay-tarball: build image-apt
	bash build/image/overlay-tarball.sh

# Boots the image in qemu-system-aarch64 and checks rackboot answers (docs/image.md).
image-boot-test: BOOT_TEST=1
image-boot-test: image-apt
	bash build/image/boot-test.sh

# Benchmark against the peers (docs/bench.md): needs root, about 30 minutes; QUICK=1 for a smoke run.
# Installing the peers on a systemd machine starts them as services; the harness runs its own copies in namespaces.
BENCH_PACKAGES := kea-dhcp4-server kea-admin tftpd-hpa nginx-light dnsmasq-base atftp curl bc nftables iproute2 ethtool

bench: build
	@missing=""; for p in $(BENCH_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  if [ -d /run/systemd/system ]; then for u in nginx tftpd-hpa kea-dhcp4-server; do \
	    case "$$missing" in *$$u*) systemctl disable --now $$u 2>/dev/null || true;; esac; done; fi; \
	fi
	node bench/run.mjs $(if $(QUICK),--quick)
