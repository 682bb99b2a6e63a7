#!/bin/sh
# Build the builder image (docker/Dockerfile, stage toolchain) on the base from
# scripts/docker-base.sh and print its reference. Reused (not rebuilt) while its inputs
# are unchanged: the base rootfs, the Dockerfile, the lock and the scripts that install
# it. The image carries the base rootfs sha256 as a label for out/MANIFEST, and is also
# tagged flowattr-builder:latest, the name .devcontainer/devcontainer.json opens.
# A new builder replaces the old: the builder and base images of earlier inputs (1.7 and
# 1.5 GB each time the locks change) are removed once it is built.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)

base=$("$top/scripts/docker-base.sh")
rootfs=$(docker image inspect -f '{{index .RootFS.Layers 0}}' "$base")
inputs=$( {
	echo "$rootfs"
	cat "$top/docker/Dockerfile" "$top/docker/packages.lock" "$top/scripts/install-deps.sh" "$0"
} | sha256sum | cut -c1-16)
ref=flowattr-builder:in-$inputs
if docker image inspect "$ref" >/dev/null 2>&1; then
	docker tag "$ref" flowattr-builder:latest
	echo "$ref"
	exit 0
fi

# A context of just the files the toolchain stage copies: sending the whole tree (build
# directories, out/) would be slow and could leak stale files into the image.
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/docker" "$ctx/scripts"
cp "$top/docker/Dockerfile" "$top/docker/packages.lock" "$ctx/docker/"
cp "$top/scripts/install-deps.sh" "$ctx/scripts/"
echo "docker-image: building $ref on $base" >&2
docker build --quiet --network host -f "$ctx/docker/Dockerfile" --target toolchain \
	--build-arg BASE_IMAGE="$base" --label "flowattr.base-rootfs=$rootfs" \
	-t "$ref" "$ctx" >&2
docker tag "$ref" flowattr-builder:latest

# Every tag of REPO on an image other than KEEP (an image ID). Builders go first: a base
# cannot be removed while a builder made from it exists.
remove_superseded() {
	docker images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}' "$1" | while read -r tagged id; do
		case $tagged in *:'<none>') continue ;; esac
		[ "$id" = "$2" ] && continue
		if docker rmi "$tagged" >/dev/null; then
			echo "docker-image: removed the superseded $tagged" >&2
		else
			echo "docker-image: WARNING: could not remove the superseded $tagged" >&2
		fi
	done
}
remove_superseded flowattr-builder "$(docker image inspect -f '{{.Id}}' "$ref")"
remove_superseded flowattr-base "$(docker image inspect -f '{{.Id}}' "$base")"
echo "$ref"
