#!/bin/sh
# Build the builder's base image from Debian's mirror alone (no registry here): one
# mmdebstrap call makes a minbase bookworm rootfs holding every package of
# docker/packages.lock at its exact version, and `docker import` turns it into an image.
# With SOURCE_DATE_EPOCH fixed and the host-specific files dropped, the tarball is
# byte-identical on every run and host, and docker keeps its sha256 as the layer digest.
# Prints the image reference. Reused (not rebuilt) while the lock and this script are
# unchanged (comments aside): the image is tagged by the sha256 of those inputs.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
lock="$top/docker/packages.lock"
# Fixed, not "now": any constant gives identical bytes; this one is bookworm's release day.
export SOURCE_DATE_EPOCH=1686355200

die() { echo "docker-base: $*" >&2; exit 1; }

inputs=$( { grep -v "^#" "$lock"; cat "$0"; } | sha256sum | cut -c1-16)
ref=flowattr-base:in-$inputs
if docker image inspect "$ref" >/dev/null 2>&1; then
	echo "$ref"
	exit 0
fi

# One apt source per suite the lock names; security fixes live in their own archive.
set -- "deb http://deb.debian.org/debian bookworm main"
for suite in $(awk '!/^#/ && NF == 3 && $1 != "bookworm" { print $1 }' "$lock" | sort -u); do
	case $suite in
	*-security) set -- "$@" "deb http://deb.debian.org/debian-security $suite main" ;;
	*) set -- "$@" "deb http://deb.debian.org/debian $suite main" ;;
	esac
done
include=$(awk '!/^#/ && NF == 3 { printf "%s%s=%s", sep, $2, $3; sep = "," }' "$lock")
[ -n "$include" ] || die "no packages in $lock"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "docker-base: mmdebstrap bookworm + $(echo "$include" | tr ',' '\n' | wc -l) pinned packages" >&2
# resolv.conf and hostname come from the host running mmdebstrap: drop them so every
# host produces the same bytes (docker provides both at run time).
if ! mmdebstrap --variant=minbase --include="$include" \
	--customize-hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname"' \
	bookworm "$tmp/rootfs.tar" "$@" >"$tmp/log" 2>&1; then
	cat "$tmp/log" >&2
	die "mmdebstrap failed. If apt reports \"Version '...' for '...' was not found\", that pinned version left the mirror: run 'make lock-refresh' and review docker/packages.lock"
fi
sum=$(sha256sum "$tmp/rootfs.tar" | cut -d' ' -f1)
docker import --change 'CMD ["/bin/bash"]' "$tmp/rootfs.tar" "flowattr-base:$sum" >/dev/null
docker tag "flowattr-base:$sum" "$ref"
# MANIFEST reads the rootfs sha256 back from the layer digest: make sure they agree.
layer=$(docker image inspect -f '{{index .RootFS.Layers 0}}' "$ref")
[ "$layer" = "sha256:$sum" ] || die "layer digest $layer differs from rootfs tarball sha256 $sum"
echo "docker-base: rootfs sha256 $sum" >&2
echo "$ref"
