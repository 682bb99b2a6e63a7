#!/bin/sh
# Build the agent, its guest binaries and objects in the pinned builder, export them to out/,
# and build and run the unit tests there (see docker-inside.sh; FLOWATTR_UNIT_TESTS=skip leaves
# the tests out).
# The tree is mounted at its own absolute path: builds from two checkouts then really
# run in different directories, so a path leaking into an artifact shows up as a
# difference in `make repro-check` instead of being hidden by a fixed mount point, and
# the CMake files in build-docker/ stay valid on the host.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "docker-build: $*" >&2; exit 1; }

git -C "$top" rev-parse --git-dir >/dev/null 2>&1 ||
	die "$top is not a git checkout: the source hash and SOURCE_DATE_EPOCH come from git"
# The files the build can see (tracked and untracked, minus ignored and deleted ones),
# hashed by content: the same tree gives the same hash wherever it is checked out.
source_sha=$(cd "$top" && { git ls-files -co --exclude-standard; git ls-files -d; } |
	LC_ALL=C sort | uniq -u | tr '\n' '\0' | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
# The commit time, not "now": rebuilding the same commit later gives the same bytes.
epoch=$(git -C "$top" log -1 --format=%ct)

"$top/scripts/docker-engine.sh"
builder=$("$top/scripts/docker-image.sh")
base_sha=$(docker image inspect -f '{{index .Config.Labels "flowattr.base-rootfs"}}' "$builder")

echo "docker-build: building $top in $builder" >&2
# Unprivileged, host network (the only network here), the caller's uid so out/ and
# build-docker/ stay theirs; --init forwards Ctrl-C to the build.
docker run --rm --init --network host --user "$(id -u):$(id -g)" \
	-v "$top:$top" -w "$top" \
	-e SOURCE_DATE_EPOCH="$epoch" -e FLOWATTR_SOURCE_SHA256="$source_sha" \
	-e FLOWATTR_BASE_SHA256="$base_sha" -e JOBS="${JOBS:-2}" -e FLOWATTR_UNIT_TESTS="${FLOWATTR_UNIT_TESTS:-run}" \
	"$builder" "$top/scripts/docker-inside.sh" "$top" "$top/build-docker" "$top/out"
