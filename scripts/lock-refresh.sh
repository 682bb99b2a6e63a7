#!/bin/sh
# Rewrite docker/packages.lock and docker/host.lock with the versions the mirror offers
# now, then docker/rootfs.lock with the builder rootfs they resolve to (each .deb with its
# sha256 and pool path, the keys of the content-addressed cache of scripts/pinned-debs.sh),
# for review with `git diff docker/`. A package locked from bookworm or bookworm-security
# takes the newest of the two and records the slower suite, bookworm, whenever that has
# the version too; one locked from bookworm-backports stays there. Security versions are
# kept rather than avoided: bookworm hosts carry them already (libzstd1, liblzma5), and
# pinning the point release would make `make deps` downgrade a core library. apt runs on a private state directory
# (.cache/lock-refresh), so the machine's own apt setup is neither read nor changed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
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
	-o APT::Architectures::=amd64"
# shellcheck disable=SC2086
apt-get $apt_opts update -qq

# Print "suite version" of the newest version of package $1 in the suites listed in $2.
newest() {
	# shellcheck disable=SC2086
	apt-cache $apt_opts madison "$1" | awk -F' *[|] *' '{ split($3, w, " "); split(w[2], s, "/"); print s[1], $2 }' |
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

# Reads "package version" lines, prints "package version sha256 path": the .deb of each, its
# path below the mirror root, in debian/ when the point release has the file, else in
# debian-security/. One apt-cache call for all of them (one per package takes minutes).
pool_files() {
	pairs=$(cat)
	# shellcheck disable=SC2086
	apt-cache $apt_opts show $(echo "$pairs" | awk '{ printf "%s=%s ", $1, $2 }') |
		awk 'function out() { if (f ~ /^pool\/updates\//) print p, v, 1, s, "debian-security/" f; else print p, v, 0, s, "debian/" f; f = "" }
			/^Package: / { p = $2 } /^Version: / { v = $2 } /^Filename: / { f = $2 } /^SHA256: / { s = $2 }
			/^$/ && f != "" { out() } END { if (f != "") out() }' |
		LC_ALL=C sort -k1,1 -k2,2 -k3,3n | awk '!seen[$1 " " $2]++ { print $1, $2, $4, $5 }' >"$dir/pool-files"
	echo "$pairs" | while read -r pkg ver; do
		found=$(awk -v p="$pkg" -v v="$ver" '$1 == p && $2 == v' "$dir/pool-files")
		[ -n "$found" ] || { echo "lock-refresh: no .deb of $pkg $ver in the mirror's indexes" >&2; exit 1; }
		echo "$found"
	done
}

for lock in "$top/docker/packages.lock" "$top/docker/host.lock"; do
	new="$lock.new"
	while IFS= read -r line; do
		case $line in '#'* | '') echo "$line"; continue ;; esac
		set -- $line
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

# The rootfs closure: the builder's base made from the new packages.lock alone, every
# package it holds recorded at the version it got.
rootfs_lock="$top/docker/rootfs.lock"
[ -f "$rootfs_lock" ] || : >"$rootfs_lock"
echo "lock-refresh: resolving the builder rootfs (mmdebstrap, about a minute)" >&2
{
	echo "# Every package of the builder's base rootfs at its exact version: the dependencies of"
	echo "# docker/packages.lock as well as the packages it names. Written by \`make lock-refresh\`"
	echo "# (scripts/docker-base.sh --resolve); scripts/docker-base.sh pins all of them and fails"
	echo "# naming the difference when the rootfs it builds holds anything else."
	echo "# Format: <package> <version> <sha256 of the .deb> <its path below the mirror root>"
	"$top/scripts/docker-base.sh" --resolve | pool_files
} >"$rootfs_lock.new"
mv "$rootfs_lock.new" "$rootfs_lock"
echo "lock-refresh: review with: git diff docker/" >&2
