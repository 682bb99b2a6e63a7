#!/bin/sh
# `make matrix` and `make repro`: build out/ with the pinned builder (docker-build.sh),
# then run out/kmatrix inside that same builder, so the VMs boot with its pinned QEMU and
# busybox and the initramfs holds exactly the binaries out/MANIFEST lists.
# Usage: docker-kmatrix.sh [--no-build] run|repro|check|lab|exec [KMATRIX ARGS...]
#   --no-build  use the out/ and builder image already there (CI: built by another job)
# Kernels are cached on the host in $FLOWATTR_CACHE (default ~/.cache/flowattr) and
# mounted in; /dev/kvm is handed in when it exists (kmatrix still probes it and falls back
# to TCG). An interactive terminal is passed through for live progress and `repro --shell`.
# FLOWATTR_MOUNT: absolute paths outside the tree to mount read-only at the same place (the
# object of `repro --object`). FLOWATTR_LIBRARY_PATH: kmatrix's LD_LIBRARY_PATH in the builder,
# where it looks first for the shared libraries of an executable brought with --file (make
# repro SHELL=1: the arm64 bpftool's libcap2, unpacked in the cache, which is mounted at the
# same path); the caller's own LD_LIBRARY_PATH names this machine's directories, not the builder's.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)

if [ "${1:-}" = --no-build ]; then
	shift
	[ -x "$top/out/kmatrix" ] || { echo "docker-kmatrix: no $top/out/kmatrix: run make docker-build" >&2; exit 1; }
	"$top/scripts/docker-engine.sh"
else
	"$top/scripts/docker-build.sh"
fi
builder=$("$top/scripts/docker-image.sh")

command=${1:?usage: docker-kmatrix.sh [--no-build] run|repro|check|lab|exec [KMATRIX ARGS...]}
shift
cache=${FLOWATTR_CACHE:-${HOME:?set HOME or FLOWATTR_CACHE}/.cache/flowattr}
mkdir -p "$cache"
set -- --network host --init --rm --user "$(id -u):$(id -g)" \
	-v "$top:$top" -w "$top" -v "$cache:$cache" -e FLOWATTR_CACHE="$cache" -e HOME=/tmp \
	-e FLOWATTR_ACCEL -e COLUMNS ${FLOWATTR_LIBRARY_PATH:+-e LD_LIBRARY_PATH="$FLOWATTR_LIBRARY_PATH"} "$builder" "$top/out/kmatrix" "$command" --artifacts "$top/out" "$@"
[ -e /dev/kvm ] && set -- --device /dev/kvm "$@"
for f in ${FLOWATTR_MOUNT:-}; do
	[ -e "$f" ] || { echo "docker-kmatrix: $f does not exist" >&2; exit 2; }
	set -- -v "$f:$f:ro" "$@"
done
[ -t 0 ] && set -- -it "$@"
exec docker run "$@"
