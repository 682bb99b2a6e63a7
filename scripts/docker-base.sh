#!/bin/sh
# Build the builder's base image from Debian's mirror alone (no registry here): one
# mmdebstrap call makes a minbase bookworm rootfs holding every package of
# docker/packages.lock and docker/shell.lock at its exact version, and `docker import`
# turns it into an image.
# Every other package of the rootfs (the dependencies: libc6-dev, binutils, ...) is pinned
# too, by docker/rootfs.lock, through an apt preferences file placed before apt first
# runs; the finished rootfs must hold exactly the packages and versions of that lock, or
# the build stops and names the difference.
# apt reads no mirror here: the .debs of docker/rootfs.lock are fetched into a
# content-addressed cache first (scripts/pinned-debs.sh, checked against the lock's
# sha256) and mmdebstrap installs from a local repository of them. A machine that built
# once rebuilds offline, to the same bytes, after Debian dropped a pinned version; a fresh
# one fails before mmdebstrap starts, naming the package and the versions.
# With SOURCE_DATE_EPOCH fixed and the host-specific files dropped, the tarball is
# byte-identical on every run and host, and docker keeps its sha256 as the layer digest.
# Prints the image reference. Reused (not rebuilt) while the locks, this script and
# pinned-debs.sh are unchanged (the locks' comments aside): the image is tagged by the sha256 of those inputs.
#
# docker-base.sh --rebuild: build it even when an image of these inputs exists (the
# rootfs sha256 printed on stderr then shows whether the same bytes came out).
# docker-base.sh --resolve: build the rootfs from packages.lock and shell.lock alone (dependencies at
# the mirror's newest) and print its "package version" list: what `make lock-refresh`
# writes to docker/rootfs.lock.
# docker-base.sh --resolve-keep: the same, but a dependency stays at its rootfs.lock version
# while the mirror offers it (what `make lock-refresh` tries first).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
# The packages named, "suite package version": the toolchain (packages.lock) and the tools of
# `make shell` (shell.lock).
named_locks() { awk '!/^#/ && NF == 3' "$top/docker/packages.lock" "$top/docker/shell.lock"; }
rootfs_lock="$top/docker/rootfs.lock"
# Fixed, not "now": any constant gives identical bytes; this one is bookworm's release day.
export SOURCE_DATE_EPOCH=1686355200

die() { echo "docker-base: $*" >&2; exit 1; }

resolve=0 rebuild=0 keep=0
case ${1:-} in
--resolve) resolve=1 ;;
--resolve-keep) resolve=1 keep=1 ;;
--rebuild) rebuild=1 ;;
'') ;;
*) die "usage: docker-base.sh [--rebuild | --resolve | --resolve-keep]" ;;
esac

inputs=$( { named_locks; grep -v "^#" "$rootfs_lock"; cat "$0" "$top/scripts/pinned-debs.sh"; } | sha256sum | cut -c1-16)
ref=flowattr-base:in-$inputs
if [ $resolve = 0 ] && [ $rebuild = 0 ] && docker image inspect "$ref" >/dev/null 2>&1; then
	echo "$ref"
	exit 0
fi

# mmdebstrap writes the tarball, so its version is an input like the packages: the pinned
# one, unless FLOWATTR_ANY_MMDEBSTRAP=1 accepts the host's (hosts that are not Debian
# bookworm, e.g. CI runners: the binaries stay identical, the base sha256 may not).
want=$(awk '!/^#/ && $2 == "mmdebstrap" { print $3 }' "$top/docker/host.lock")
have=$(dpkg-query -W -f '${Version}' mmdebstrap 2>/dev/null || true)
if [ "$have" != "$want" ]; then
	if [ -n "$have" ] && [ "${FLOWATTR_ANY_MMDEBSTRAP:-}" = 1 ]; then
		echo "docker-base: WARNING: mmdebstrap $have, not the pinned $want: the base rootfs bytes may differ" >&2
	else
		"$top/scripts/install-deps.sh" --lock "$top/docker/host.lock" mmdebstrap >&2
	fi
fi

# One apt source per suite the lock names; security fixes live in their own archive.
# These are the rootfs's /etc/apt/sources.list, and the sources of a --resolve run.
set -- "deb http://deb.debian.org/debian bookworm main"
for suite in $(named_locks | awk '$1 != "bookworm" { print $1 }' | sort -u); do
	case $suite in
	*-security) set -- "$@" "deb http://deb.debian.org/debian-security $suite main" ;;
	*) set -- "$@" "deb http://deb.debian.org/debian $suite main" ;;
	esac
done
# The same text mmdebstrap writes for those sources (one entry per paragraph).
sources_list=$(printf '%s\n\n' "$@")
auto=
include=$(named_locks | awk '{ printf "%s%s=%s", sep, $2, $3; sep = "," }')
[ -n "$include" ] || die "no packages in docker/packages.lock"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Priority 1001 makes the locked version apt's only candidate, for the Essential set that
# mmdebstrap installs first as much as for the rest; a pin naming a version the mirror
# no longer has is ignored by apt, and the check after the build catches that.
pins=$tmp/flowattr-rootfs.pref
: >"$pins"
if [ $resolve = 0 ]; then
	grep -qv '^#' "$rootfs_lock" || die "$rootfs_lock is empty: run 'make lock-refresh'"
	awk '!/^#/ && NF == 4 { printf "Package: %s\nPin: version %s\nPin-Priority: 1001\n\n", $1, $2 }' \
		"$rootfs_lock" >"$pins"
	"$top/scripts/pinned-debs.sh" fetch || exit 1
	"$top/scripts/pinned-debs.sh" repo "$tmp/repo"
	# copy:// has apt copy each file into the chroot's archive directory, where dpkg
	# inside finds it (a file:// source would need the repository mounted inside).
	set -- "deb [trusted=yes] copy://$tmp/repo ./"
	# Every locked package by name: minbase adds the suite's Priority: required packages,
	# and that priority is the archive's override, which the .debs' own control files
	# (all the local repository has) do not always carry.
	include=$(awk '!/^#/ && NF == 4 { printf "%s%s=%s", sep, $1, $2; sep = "," }' "$rootfs_lock")
	# ... and the dependencies marked automatically installed again, as apt would have.
	named_locks | awk '{ print $2 }' | LC_ALL=C sort >"$tmp/named"
	auto=$(grep -v '^#' "$rootfs_lock" | awk 'NF == 4 { print $1 }' | LC_ALL=C sort | comm -23 - "$tmp/named" | tr '\n' ' ')
else
	# apt picks the newest version of each dependency, while a named package at an older
	# version may depend on exactly its own version of a sibling (zlib1g-dev on zlib1g, jq
	# on libjq1): prefer every package at a named version. Priority 990 prefers without
	# forcing: a version the mirror lacks is ignored.
	named_locks | awk '{ printf "Package: /./\nPin: version %s\nPin-Priority: 990\n\n", $3 }' >"$pins"
	# --resolve-keep: the same preference for every dependency's rootfs.lock version, so
	# only what the pins force moves; where they need newer dependencies apt fails rather
	# than downgrade, and the caller resolves with --resolve.
	[ $keep = 0 ] || awk '!/^#/ && NF == 4 { printf "Package: %s\nPin: version %s\nPin-Priority: 990\n\n", $1, $2 }' \
		"$rootfs_lock" >>"$pins"
fi

# The last step inside the rootfs. resolv.conf and hostname come from the host running
# mmdebstrap: dropped so every host produces the same bytes (docker provides both at run
# time). sources.list names Debian's mirror whatever apt read the packages from.
cat >"$tmp/customize.sh" <<CUSTOMIZE
#!/bin/sh
set -e
rm -f "\$1/etc/resolv.conf" "\$1/etc/hostname"
printf '%s\\n' '$sources_list' >"\$1/etc/apt/sources.list"
${auto:+chroot "\$1" apt-mark auto $auto >/dev/null}
CUSTOMIZE
chmod +x "$tmp/customize.sh"

echo "docker-base: mmdebstrap bookworm + $(echo "$include" | tr ',' '\n' | wc -l) packages named" \
	"($(grep -c '^Package:' "$pins") pinned in all)" >&2
# Debian's keys by file: a host whose apt does not trust them (a CI runner that is not
# Debian) still verifies the mirror; mmdebstrap does not copy them into the rootfs.
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || die "cannot read $keyring (install debian-archive-keyring)"
# The native architecture plus every one a pin names (PKG:arm64: the cross build's libraries).
architectures=$(named_locks | awk '{ n = split($2, a, ":"); if (n == 2) print a[2] }' | sort -u | awk 'BEGIN { printf "amd64" } { printf ",%s", $1 }')
if ! mmdebstrap --variant=minbase --architectures="$architectures" --keyring="$keyring" --include="$include" \
	--setup-hook="mkdir -p \"\$1/etc/apt/preferences.d\" && cp '$pins' \"\$1/etc/apt/preferences.d/\"" \
	--customize-hook="$tmp/customize.sh" \
	bookworm "$tmp/rootfs.tar" "$@" >"$tmp/log" 2>&1; then
	cat "$tmp/log" >&2
	die "mmdebstrap failed. If apt reports \"Version '...' for '...' was not found\" or unmet dependencies, a pinned version left the mirror: run 'make lock-refresh' and review docker/"
fi

# What the rootfs really holds, "package version" (PKG:ARCH for a foreign architecture), sorted.
tar -xOf "$tmp/rootfs.tar" ./var/lib/dpkg/status |
	awk 'function out() { if (p != "") print p (a == "amd64" || a == "all" ? "" : ":" a), v; p = "" }
		/^Package: / { p = $2 } /^Architecture: / { a = $2 } /^Version: / { v = $2 } /^$/ { out() } END { out() }' |
	LC_ALL=C sort >"$tmp/installed"
if [ $resolve = 1 ]; then
	cat "$tmp/installed"
	exit 0
fi
grep -v '^#' "$rootfs_lock" | awk 'NF == 4 { print $1, $2 }' | LC_ALL=C sort >"$tmp/locked"
if ! cmp -s "$tmp/locked" "$tmp/installed"; then
	echo "docker-base: the rootfs differs from $rootfs_lock (-locked +built):" >&2
	diff "$tmp/locked" "$tmp/installed" | grep '^[<>]' | sed 's/^</  -/; s/^>/  +/' >&2
	die "a locked version left the mirror or the dependencies changed: run 'make lock-refresh' and review docker/"
fi

sum=$(sha256sum "$tmp/rootfs.tar" | cut -d' ' -f1)
# An image of these very bytes may exist (a --rebuild, inputs that changed back): it is tagged
# again, not imported again. `docker import` stamps the time, so a second import of the same
# tarball is a new image, and the old one would stay behind untagged (a `<none>` entry in `docker images`).
if [ "$(docker image inspect -f '{{index .RootFS.Layers 0}}' "flowattr-base:$sum" 2>/dev/null)" != "sha256:$sum" ]; then
	docker import --change 'CMD ["/bin/bash"]' "$tmp/rootfs.tar" "flowattr-base:$sum" >/dev/null
fi
docker tag "flowattr-base:$sum" "$ref"
# MANIFEST reads the rootfs sha256 back from the layer digest: make sure they agree.
layer=$(docker image inspect -f '{{index .RootFS.Layers 0}}' "$ref")
[ "$layer" = "sha256:$sum" ] || die "layer digest $layer differs from rootfs tarball sha256 $sum"
echo "docker-base: rootfs sha256 $sum" >&2
echo "$ref"
