# flowattr front door. `make check` (the README's test command) installs what it needs,
# builds and runs every test; `make run` runs the agent.
BUILD ?= build
JOBS ?= $(shell nproc)
IFACE ?= $(shell ip -o route show default 2>/dev/null | awk '{print $$5; exit}')
DURATION ?= 10
# No "Entering directory" pairs around every step of the CMake build's make.
MAKEFLAGS += --no-print-directory

.PHONY: all deps build check unit kernel run bench clean

all: build

# Host tools of the tests (docker/host.lock says which test needs which), then the pinned
# npm tools the tests use: the workflow validator run over ci/*.yml (ci/validator.lock) and
# the Dev Containers CLI (ci/devcontainer-cli.lock); then the test data of
# docker/testdata.lock, unpacked, not installed.
deps:
	scripts/install-deps.sh
	scripts/install-deps.sh --lock docker/host.lock curl socat python3 python3-yaml nodejs libnode108 tmux iperf3 libiperf0
	scripts/npm-tarballs.sh ci/validator.lock $(BUILD)/ci-validator
	scripts/npm-tarballs.sh ci/devcontainer-cli.lock $(BUILD)/devcontainer-cli
	scripts/pinned-debs.sh testdata

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# Every test, then the reproducibility check of the pinned builder (two clean builds of
# HEAD in different directories must give byte-identical out/ trees).
check: build
	scripts/ctest-summary.sh $(BUILD)
	scripts/repro-check.sh

unit: build
	scripts/ctest-summary.sh $(BUILD) unit

kernel: build
	scripts/ctest-summary.sh $(BUILD) kernel

run: build
	$(BUILD)/src/cli/flowattr run --iface $(IFACE) --duration $(DURATION) --interval 2

# Datapath figures first, then the agent's ring-buffer consumer, connection churn, live traffic
# through the agent, the agent holding full flow
# tables, the kernel matrix at -j1, -j2 and its default -j, then the builds (a .bpf.c edit, a
# warm docker-build); all end up in out/bench/results.json, drawn
# as out/bench/results.svg.
bench: build
	$(BUILD)/bench/flowattr_bench out/bench $$(git rev-parse HEAD 2>/dev/null)
	$(BUILD)/bench/flowattr_events_bench out/bench
	$(BUILD)/bench/flowattr_churn_bench $(BUILD)/src/cli/flowattr out/bench
	$(BUILD)/bench/flowattr_live_bench $(BUILD)/src/cli/flowattr out/bench
	$(BUILD)/bench/flowattr_table_bench $(BUILD)/src/cli/flowattr out/bench
	$(BUILD)/bench/flowattr_matrix_bench $(BUILD)/src/cli/kmatrix kernels.txt $(BUILD) out/bench
	$(BUILD)/bench/flowattr_build_bench $(CURDIR) $(BUILD) out/bench
	$(BUILD)/bench/flowattr_bench_chart out/bench/results.json out/bench/results.svg

clean:
	rm -rf $(BUILD) out

# --- Docker builder (docker/, scripts/docker-*.sh): the pinned, reproducible build.
# docker-build exports the static binaries, every .bpf.o and MANIFEST to out/;
# repro-check builds two fresh clones of HEAD and fails on any differing byte.
.PHONY: docker-image docker-build shell repro-check lock-refresh lock-check

docker-image:
	scripts/docker-engine.sh
	scripts/docker-image.sh

docker-build:
	scripts/docker-build.sh

# make shell [CMD='cmake --build build-docker'] [ROOT=1]: the builder as the caller (see
# scripts/docker-shell.sh); CMD runs non-interactively and its exit status is make's.
# CMD is read from the environment (make exports command-line variables), so any quoting
# in it survives.
shell:
	scripts/docker-shell.sh $(if $(ROOT),--root) $(if $(CMD),--command "$$CMD")

repro-check:
	scripts/repro-check.sh

# make lock-refresh [UPGRADE=1]: re-pin what Debian dropped (every pin with UPGRADE=1) and
# re-resolve docker/rootfs.lock; review with `git diff docker/`.
lock-refresh:
	scripts/lock-refresh.sh $(if $(UPGRADE),--upgrade)

# Every pin of docker/*.lock against the mirror's indexes: names each one Debian dropped.
lock-check:
	scripts/pinned-debs.sh check

# --- Kernel matrix (src/matrix, kmatrix): boot every kernel of kernels.txt under QEMU and
# run the kernel suite inside each. Both targets build out/ with the pinned builder and run
# out/kmatrix inside it (scripts/docker-kmatrix.sh): the same QEMU, busybox and initramfs
# bytes on every machine. Reports land in out/matrix/ (index.html, summary.md,
# <kernel>/junit.xml and console.log).
#   make matrix [KERNELS=6.1,7.2] [MATRIX_ARGS=...]
#   make repro KERNEL=6.1 [SHELL=1] [TEST=Suite.Name | OBJECT=path.bpf.o [SIZE_MAPS=1]] [CMDLINE="loglevel=7"]
#     (SIZE_MAPS=1: the check sizes maps the object leaves for its loader, kmatrix check --size-maps)
#     (SHELL=1 brings bpftool into the VM's shell, at /exec/bpftool: the builder's on an x86_64
#     kernel, Debian's arm64 build of the same version on an aarch64 one, unpacked with the
#     libcap2 it needs from docker/testdata.lock and found through kmatrix's LD_LIBRARY_PATH)
#   make lab [KERNELS=6.1,7.2]: every loader-failure fixture on every kernel, against the expected grid
# SHELL is also make's recipe shell: keep what the user meant by it, then pin the real one.
REPRO_SHELL := $(filter 1 yes true,$(SHELL))
override SHELL := /bin/sh
TESTDATA := $(or $(FLOWATTR_CACHE),$(HOME)/.cache/flowattr)/testdata
.PHONY: matrix repro lab

matrix:
	scripts/docker-kmatrix.sh run $(if $(KERNELS),--only $(KERNELS)) $(MATRIX_ARGS)

repro:
	@test -n "$(KERNEL)" || { echo "usage: make repro KERNEL=<name> [SHELL=1] [TEST=Suite.Name | OBJECT=path.bpf.o [SIZE_MAPS=1]] [CMDLINE=...]"; \
		echo "kernels:" $$(awk '!/^#/ && NF { print $$1 }' kernels.txt); exit 2; }
	$(if $(REPRO_SHELL),scripts/pinned-debs.sh testdata)
	FLOWATTR_MOUNT="$(if $(OBJECT),$(abspath $(OBJECT)))" \
		$(if $(REPRO_SHELL),FLOWATTR_LIBRARY_PATH=$(TESTDATA)/libcap2_arm64/lib/aarch64-linux-gnu) scripts/docker-kmatrix.sh repro $(KERNEL) \
		$(if $(REPRO_SHELL),--shell --file /usr/sbin/bpftool --file $(TESTDATA)/bpftool_arm64/usr/sbin/bpftool) $(if $(TEST),--test $(TEST)) \
		$(if $(OBJECT),--object $(abspath $(OBJECT)) $(if $(SIZE_MAPS),--size-maps)) $(if $(CMDLINE),--cmdline "$(CMDLINE)")

# The lab runs the host build's kmatrix and fixtures (the fixtures are test inputs, not in out/).
lab: build
	$(BUILD)/src/cli/kmatrix lab --fixtures $(BUILD)/tests/kernel/fixtures --expect tests/kernel/fixtures/expected.txt \
		--artifacts $(BUILD) --out out/lab $(if $(KERNELS),--only $(KERNELS))
