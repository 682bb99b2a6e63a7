#!/bin/sh
# Rewrite docker/packages.lock, docker/shell.lock and docker/host.lock with the versions the mirror offers
# now, then docker/rootfs.lock with the builder rootfs they resolve to (each .deb with its
# sha256 and pool path, the keys of the content-addressed cache of scripts/pinned-debs.sh)
# and docker/testdata.lock with its packages at their amd64 twins' versions, for review with
# `git diff docker/`. A pin the mirror still offers in its suite is kept as
# it is (a refresh changes only what vanished, so the locks move as little as Debian makes
# them). A vanished pin, and every pin with --upgrade (`make lock-refresh UPGRADE=1`), takes
# the newest version: one locked from bookworm or bookworm-security the newest of the two,
# recorded as the slower suite, bookworm, whenever that has the version too; one locked
# from bookworm-backports stays there. Security versions are
# kept rather than avoided: bookworm hosts carry them already (libzstd1, liblzma5), and
# pinning the point release would make `make deps` downgrade a core library. apt runs on a private state directory
# (.cache/lock-refresh), so the machine's own apt setup is neither read nor changed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
upgrade=0
case ${1:-} in
'') ;;
--upgrade) upgrade=1 ;;
*) echo "usage: lock-refresh.sh [--upgrade]" >&2; exit 2 ;;
esac
dir="$top/.cache/lock-refresh"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

mkdir -p "$dir/state/lists/partial" "$dir/cache/archives/partial"
: >"$dir/status"
cat >"$dir/sources.list" <<SOURCES
deb [signed-by=$keyring] http://deb.debian.org/debian bookworm main
deb [signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main
deb [signed-by=$keyring] http://deb.debian.org/debian bookworm-backports main
SOURCES
apt_opts="-o Dir::Etc::SourceList=$dir/sources.list -o Dir::Etc::SourceParts=/dev/null
	-o Dir::State=$dir/state -o Dir::State::status=$dir/status -o Dir::Cache=$dir/cache
	-o APT::Architectures::=amd64 -o APT::Architectures::=arm64"
# shellcheck disable=SC2086
apt-get $apt_opts update -qq

# "suite version" of every version of package $1 the mirror offers.
suite_versions() {
	# shellcheck disable=SC2086
	apt-cache $apt_opts madison "$1" | awk -F' *[|] *' '{ split($3, w, " "); split(w[2], s, "/"); print s[1], $2 }'
}

# Whether the mirror offers package $1 at version $3 in suite $2.
offered() { suite_versions "$1" | grep -qxF "$2 $3"; }

# Print "suite version" of the newest version of package $1 in the suites listed in $2.
newest() {
	suite_versions "$1" |
		while read -r suite ver; do
			case " $2 " in *" $suite "*) echo "$suite $ver" ;; esac
		done | {
		best_suite="" best=""
		while read -r suite ver; do
			if [ -z "$best" ] || dpkg --compare-versions "$ver" gt "$best" ||
				{ [ "$ver" = "$best" ] && [ "$suite" = bookworm ]; }; then
				best_suite=$suite best=$ver
			fi
		done
		[ -n "$best" ] && echo "$best_suite $best"
	}
}

# Reads "package version" lines (PKG:arm64 for the other architecture), prints "package version
# sha256 path": the .deb of each, its
# path below the mirror root, in debian/ when the point release has the file, else in
# debian-security/. One apt-cache call for all of them (one per package takes minutes).
pool_files() {
	pairs=$(cat)
	# shellcheck disable=SC2086
	apt-cache $apt_opts show $(echo "$pairs" | awk '{ printf "%s=%s ", $1, $2 }') |
		awk 'function out() { q = p (a == "amd64" || a == "all" ? "" : ":" a)
				if (f ~ /^pool\/updates\//) print q, v, 1, s, "debian-security/" f; else print q, v, 0, s, "debian/" f; f = "" }
			/^Package: / { p = $2 } /^Architecture: / { a = $2 } /^Version: / { v = $2 } /^Filename: / { f = $2 } /^SHA256: / { s = $2 }
			/^$/ && f != "" { out() } END { if (f != "") out() }' |
		LC_ALL=C sort -k1,1 -k2,2 -k3,3n | awk '!seen[$1 " " $2]++ { print $1, $2, $4, $5 }' >"$dir/pool-files"
	echo "$pairs" | while read -r pkg ver; do
		found=$(awk -v p="$pkg" -v v="$ver" '$1 == p && $2 == v' "$dir/pool-files")
		[ -n "$found" ] || { echo "lock-refresh: no .deb of $pkg $ver in the mirror's indexes" >&2; exit 1; }
		echo "$found"
	done
}

for lock in "$top/docker/packages.lock" "$top/docker/shell.lock" "$top/docker/host.lock"; do
	new="$lock.new"
	while IFS= read -r line; do
		case $line in '#'* | '') echo "$line"; continue ;; esac
		set -- $line
		if [ $upgrade = 0 ] && offered "$2" "$1" "$3"; then
			echo "$line"
			continue
		fi
		case $1 in
		bookworm | bookworm-security) suites="bookworm bookworm-security" ;;
		*) suites=$1 ;;
		esac
		found=$(newest "$2" "$suites") || {
			echo "lock-refresh: $2 is in none of: $suites" >&2
			rm -f "$new"
			exit 1
		}
		[ "$found" = "$1 $3" ] || echo "lock-refresh: $2 $1 $3 -> $found" >&2
		echo "${found% *} $2 ${found#* }"
	done <"$lock" >"$new"
	mv "$new" "$lock"
done

# The rootfs closure: the builder's base made from the new packages.lock and shell.lock alone, every
# package it holds recorded at the version it got.
rootfs_lock="$top/docker/rootfs.lock"
[ -f "$rootfs_lock" ] || : >"$rootfs_lock"
echo "lock-refresh: resolving the builder rootfs (mmdebstrap, about a minute)" >&2
# The dependencies stay where they are while the mirror has them (only with --upgrade do
# they all move), unless the pins need newer ones: then all move, and the log says so.
if [ $upgrade = 1 ] || ! "$top/scripts/docker-base.sh" --resolve-keep >"$dir/resolved" 2>"$dir/resolve-keep.log"; then
	[ $upgrade = 1 ] || echo "lock-refresh: the pins need newer dependencies than docker/rootfs.lock holds" \
		"(apt: $(grep -m1 'Depends:' "$dir/resolve-keep.log" || echo "see $dir/resolve-keep.log")); resolving every dependency at the mirror's newest" >&2
	"$top/scripts/docker-base.sh" --resolve >"$dir/resolved" || exit 1
fi
{
	echo "# Every package of the builder's base rootfs at its exact version: the dependencies of"
	echo "# docker/packages.lock and docker/shell.lock as well as the packages they name. Written by \`make lock-refresh\`"
	echo "# (scripts/docker-base.sh --resolve); scripts/docker-base.sh pins all of them and fails"
	echo "# naming the difference when the rootfs it builds holds anything else."
	echo "# Format: <package> <version> <sha256 of the .deb> <its path below the mirror root>"
	pool_files <"$dir/resolved"
} >"$rootfs_lock.new"
mv "$rootfs_lock.new" "$rootfs_lock"
# Test data: each unpacked .deb at its amd64 twin's version in the new packages.lock.
testdata_lock="$top/docker/testdata.lock"
{
	grep '^#' "$testdata_lock"
	grep -v '^#' "$testdata_lock" | awk 'NF == 4 { print $1 }' | while read -r pkg; do
		echo "$pkg $("$top/scripts/pinned-debs.sh" twin-version "$pkg")"
	done | pool_files
} >"$testdata_lock.new"
mv "$testdata_lock.new" "$testdata_lock"
echo "lock-refresh: review with: git diff docker/" >&2
