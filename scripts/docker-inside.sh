#!/bin/sh
# Runs inside the builder (scripts/docker-build.sh, or the Dockerfile's build stage):
# configure, build, run the unit tests, then export the artifacts to OUT with a MANIFEST
# of sha256s of every artifact and input. Usage: docker-inside.sh SRC BUILD OUT
# Needs SOURCE_DATE_EPOCH, FLOWATTR_SOURCE_SHA256 and FLOWATTR_BASE_SHA256 in the
# environment (the host computes them: the container has neither git nor the image).
set -eu
[ $# -eq 3 ] || { echo "usage: docker-inside.sh SRC BUILD OUT" >&2; exit 2; }
src=$1 build=$2 out=$3
: "${SOURCE_DATE_EPOCH:?set to the source commit time}"
: "${FLOWATTR_SOURCE_SHA256:?set to the source tree hash}"
: "${FLOWATTR_BASE_SHA256:?set to the base rootfs sha256}"
export SOURCE_DATE_EPOCH

die() { echo "docker-inside: $*" >&2; exit 1; }

guest_arches=aarch64
# A unity build (eight sources a compile step): each header-heavy source (gtest, nlohmann-json,
# CLI11, the standard library) parsed and its inline code generated once a batch, not once a
# file. Cold, the unit tests compile in 30 % less time (what out/ holds alone gains nothing
# measurable: docs/PERFORMANCE.md); an edited .cpp costs its batch's recompile, which
# `make build` (the developer's incremental tree) is spared.
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLOWATTR_STATIC=ON -DCMAKE_UNITY_BUILD=ON
# What out/ holds and, unless FLOWATTR_UNIT_TESTS=skip, what the unit tests run; never the
# benchmarks and host-side matrix tests (`make build` builds those). The unit tests are 35 of
# the x86_64 build's sources, about a third of its compile time: a build of out/ alone
# (make repro-check, twice in make check) leaves them out.
targets="flowattr kmatrix_init flowattr_kernel_tests kmatrix flowattr_bpf_objects"
for arch in $guest_arches; do targets="$targets flowattr_guest_$arch"; done
[ "${FLOWATTR_UNIT_TESTS:-run}" = skip ] || targets="$targets flowattr_unit_tests btf_elf_fuzz"
# shellcheck disable=SC2086 # one word per target
cmake --build "$build" -j"${JOBS:-2}" --target $targets
# The unit tests as a sanity check of this toolchain; the stale-embed scenario (a whole
# second build) runs in `make check` on the host. The same source tree in the same builder
# builds the same bytes (make repro-check), so once they passed on it a warm rebuild does not
# run them again (about 40 s, most of a warm build); it says so.
# FLOWATTR_UNIT_TESTS=skip (make repro-check, which compares bytes; make check runs the tests
# on the host build) neither builds nor runs them.
tested="$build/unit-tests-passed"
tested_key="source $FLOWATTR_SOURCE_SHA256 base $FLOWATTR_BASE_SHA256"
if [ "${FLOWATTR_UNIT_TESTS:-run}" = skip ]; then
	echo "docker-inside: unit tests not run (FLOWATTR_UNIT_TESTS=skip)"
elif [ -f "$tested" ] && [ "$(cat "$tested")" = "$tested_key" ]; then
	echo "docker-inside: unit tests already passed on this source tree in this builder; not run again (remove $tested to force)"
else
	rm -f "$tested"
	ctest --test-dir "$build" -L unit -E StaleEmbedBuild --output-on-failure
	echo "$tested_key" >"$tested"
fi

# out/bpf and out/<arch>/ are ours alone: recreate them so an object whose source was
# deleted does not linger. Other files in out/ (e.g. out/matrix) belong to other tools and stay.
mkdir -p "$out"
rm -rf "$out/bpf" "$out/MANIFEST"
mkdir "$out/bpf"
for arch in $guest_arches; do
	rm -rf "${out:?}/$arch"
	mkdir -p "$out/$arch/bpf"
done
artifacts=""
export_file() { # FILE NAME-IN-OUT
	cp "$1" "$out/$2"
	touch -d "@$SOURCE_DATE_EPOCH" "$out/$2"
	artifacts="$artifacts $2"
}
# FILE (named NAME in messages) runs in the VMs' initramfs, which has no dynamic loader.
require_static() {
	if readelf -lW "$1" | grep -q 'program interpreter' || readelf -dW "$1" | grep -q NEEDED; then
		die "$2 runs in the VMs but is dynamically linked (configure with FLOWATTR_STATIC=ON)"
	fi
}
# Exact paths, not a search: a copy staged elsewhere in the build tree (an initramfs)
# must not be picked up, and a target that moved should fail here, loudly.
# What runs in the VMs' busybox initramfs (flowattr, the kernel suite, the guest's /init) must
# be static, and comes with its debug info in NAME.debug (CMakeLists.txt, flowattr_executable);
# kmatrix runs on the host or in this builder and links libcurl. The unit tests are not
# exported: they find their fixtures in the build tree they were built in.
for path in src/cli/flowattr src/cli/kmatrix_init tests/kernel/flowattr_kernel_tests src/cli/kmatrix; do
	name=${path##*/}
	[ -f "$build/$path" ] || die "$name was not built at $build/$path"
	case $name in
	kmatrix) ;;
	*)
		require_static "$build/$path" "$name"
		export_file "$build/$path.debug" "$name.debug"
		;;
	esac
	export_file "$build/$path" "$name"
done
# The objects this build made (bpf/CMakeLists.txt lists them): a reused build directory can
# still hold the object of a source since deleted or linked into another.
for obj in $(cat "$build/bpf/objects.txt"); do
	export_file "$build/bpf/$obj" "bpf/$obj"
done
# The cross-built VM binaries and objects of each other architecture (FLOWATTR_GUEST_ARCHES),
# all static and all for that machine, in out/<arch>/ (kmatrix looks there for its kernels).
for arch in $guest_arches; do
	for path in src/cli/flowattr src/cli/kmatrix_init tests/kernel/flowattr_kernel_tests; do
		name=${path##*/}
		file="$build/$arch/$path"
		[ -f "$file" ] || die "$arch $name was not built at $file"
		machine=$(readelf -hW "$file" | sed -n 's/^ *Machine: *//p')
		[ "$machine" = AArch64 ] || die "$file is built for '$machine', not $arch"
		require_static "$file" "$arch $name"
		export_file "$file" "$arch/$name"
		export_file "$file.debug" "$arch/$name.debug"
	done
	for obj in $(cat "$build/$arch/bpf/objects.txt"); do
		export_file "$build/$arch/bpf/$obj" "$arch/bpf/$obj"
	done
done

toolchain=$(
	echo "clang: $(clang-14 --version | head -1)"
	echo "bpftool: $(bpftool version | head -1) ($(bpftool version | sed -n 's/^using //p'))"
	echo "libbpf: libbpf-dev $(dpkg-query -W -f '${Version}' libbpf-dev:amd64)"
	echo "cmake: $(cmake --version | head -1)"
	echo "g++: $(g++-12 --version | head -1)"
	echo "aarch64 g++: $(aarch64-linux-gnu-g++-12 --version | head -1)"
	echo "aarch64 libbpf: libbpf-dev:arm64 $(dpkg-query -W -f '${Version}' libbpf-dev:arm64)"
)
lock_sha=$(sha256sum "$src/docker/packages.lock" | cut -d' ' -f1)
rootfs_lock_sha=$(sha256sum "$src/docker/rootfs.lock" | cut -d' ' -f1)
toolchain_sha=$(echo "$toolchain" | sha256sum | cut -d' ' -f1)
{
	echo "# flowattr build manifest. Check the artifacts: cd out && sha256sum -c --ignore-missing MANIFEST"
	echo "# Artifacts:"
	(cd "$out" && sha256sum $artifacts)
	echo "# Inputs (input:toolchain is the sha256 of the toolchain lines below, newline-terminated):"
	echo "${FLOWATTR_BASE_SHA256#sha256:}  input:base-rootfs.tar"
	echo "$lock_sha  input:docker/packages.lock"
	echo "$rootfs_lock_sha  input:docker/rootfs.lock"
	echo "$FLOWATTR_SOURCE_SHA256  input:source-tree"
	echo "$toolchain_sha  input:toolchain"
	echo "# source-tree: git ls-files -co --exclude-standard (minus deleted) | LC_ALL=C sort | xargs sha256sum | sha256sum"
	echo "$toolchain" | sed 's/^/# toolchain: /'
} >"$out/MANIFEST"
touch -d "@$SOURCE_DATE_EPOCH" "$out/MANIFEST"
echo "docker-inside: exported$artifacts and MANIFEST to $out"
