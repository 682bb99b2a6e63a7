#!/bin/sh
# The .deb files of docker/rootfs.lock, kept content-addressed in $cache/debs/<sha256>.deb.
# Debian deletes superseded versions from its pool and no snapshot archive is reachable
# here, so a machine (or a CI cache) that built the builder's base once must be able to
# build it again without the mirror: scripts/docker-base.sh always makes the base from
# these files (a local repository), and the mirror is asked only for the files the cache
# lacks. Every file is checked against the sha256 of the lock before it enters the cache.
#
# Usage: pinned-debs.sh fetch      put every .deb of docker/rootfs.lock in the cache; a pin
#                                  the mirror lost fails in one line per package, naming the
#                                  version the mirror has now and the command that refreshes
#        pinned-debs.sh repo DIR   write a flat apt repository of the cached .debs to DIR
#        pinned-debs.sh testdata   the same fetch for docker/testdata.lock, each .deb then
#                                  unpacked under $cache/testdata/<package>_<arch>/
#        pinned-debs.sh check      name every pin of docker/*.lock the mirror no longer has
#        pinned-debs.sh twin-version PKG
#                                  the version docker/packages.lock pins for PKG[:ARCH]
# FLOWATTR_CACHE (default ~/.cache/flowattr) holds the cache; FLOWATTR_DEBIAN_MIRROR
# (default http://deb.debian.org) is the mirror root, the parent of debian/ and
# debian-security/.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
rootfs_lock="$top/docker/rootfs.lock"
testdata_lock="$top/docker/testdata.lock"
mirror=${FLOWATTR_DEBIAN_MIRROR:-http://deb.debian.org}
cache=${FLOWATTR_CACHE:-${HOME:?set HOME or FLOWATTR_CACHE}/.cache/flowattr}
debs="$cache/debs"
refresh_hint="run 'make lock-refresh' and review 'git diff docker/'"

die() { echo "pinned-debs: $*" >&2; exit 1; }

# The architectures whose indexes are read: amd64 and every one a pin names as PKG:ARCH.
architectures=$(cat "$top/docker/packages.lock" "$top/docker/shell.lock" "$top/docker/host.lock" "$rootfs_lock" "$testdata_lock" |
	awk '!/^#/ && NF >= 3 { for (i = 1; i <= 2; i++) if (split($i, a, ":") == 2 && a[2] ~ /^[a-z0-9]+$/) print a[2] }' |
	sort -u | awk 'BEGIN { printf "amd64" } $1 != "amd64" { printf " %s", $1 }')

# The version docker/packages.lock pins for package $1 (an ":arch" suffix dropped), or for a
# package only the builder's dependencies hold (libcap2), docker/rootfs.lock: the version its
# test data in docker/testdata.lock must have, the same files built for another architecture.
# Empty when neither pins it.
twin_version() {
	awk -v p="${1%%:*}" '!/^#/ && NF == 3 && $2 == p { print $3; found = 1 }
		END { exit !found }' "$top/docker/packages.lock" ||
		awk -v p="${1%%:*}" '!/^#/ && NF == 4 && $1 == p { print $2 }' "$rootfs_lock"
}

# "package version sha256 path" of every .deb of lock $1 (default docker/rootfs.lock; path
# below the mirror root).
locked_debs() {
	grep -v '^#' "${1:-$rootfs_lock}" | awk 'NF == 4'
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The suites' package indexes, fetched once per run into $tmp/index/<suite>. Only ever
# read to name the versions the mirror has now in an error message.
indexes_fetched=0
fetch_indexes() {
	[ $indexes_fetched = 1 ] && return 0
	indexes_fetched=1
	mkdir -p "$tmp/index"
	for suite in bookworm bookworm-security bookworm-backports; do
		case $suite in *-security) archive=debian-security ;; *) archive=debian ;; esac
		: >"$tmp/index/$suite"
		for arch in $architectures; do
			base="$mirror/$archive/dists/$suite/main/binary-$arch"
			# The suites publish Packages.xz (some also .gz); xz-utils is not on every fresh host.
			for ext in xz gz ''; do
				case $ext in xz) unpack="xz -dc" ;; gz) unpack="gzip -dc" ;; *) unpack=cat ;; esac
				command -v "${unpack%% *}" >/dev/null || continue
				if curl -fsS --connect-timeout 10 --max-time 120 "$base/Packages${ext:+.$ext}" 2>/dev/null |
					$unpack >"$tmp/index/$suite.new" 2>/dev/null && [ -s "$tmp/index/$suite.new" ]; then
					# Package names as the locks write them: PKG:ARCH for another architecture's build.
					awk 'BEGIN { RS = ""; ORS = "\n\n" }
						{ if (match($0, /\nArchitecture: [^\n]*/)) { a = substr($0, RSTART + 15, RLENGTH - 15)
							if (a != "amd64" && a != "all") sub(/^Package: [^\n]*/, "&:" a) } print }' \
						"$tmp/index/$suite.new" >>"$tmp/index/$suite"
					break
				fi
			done
		done
	done
}

# What the three suites offer: "suite package version" into $tmp/offered-in-suite and
# "package version", sorted, into $tmp/offered; fails when an index could not be read.
offered_versions() {
	fetch_indexes
	for suite in bookworm bookworm-security bookworm-backports; do
		[ -s "$tmp/index/$suite" ] || return 1
		awk -v s="$suite" '/^Package: / { p = $2 } /^Version: / { print s, p, $2 }' "$tmp/index/$suite"
	done >"$tmp/offered-in-suite"
	cut -d' ' -f2- "$tmp/offered-in-suite" | LC_ALL=C sort -u >"$tmp/offered"
}

# "1:14.0.6-13 (bookworm), ..." — what the mirror has of package $1, or "nothing".
available_versions() {
	fetch_indexes
	found=$(for suite in bookworm bookworm-security bookworm-backports; do
		awk -v p="$1" -v s="$suite" '/^Package: / { pkg = $2 } /^Version: / && pkg == p { print $2 " (" s ")" }' \
			"$tmp/index/$suite"
	done | paste -sd, - | sed 's/,/, /g')
	echo "${found:-nothing}"
}

# Security uploads move from debian-security/pool/updates/ to debian/pool/ at a point
# release, with the same bytes: the other location of a path, for a second try.
other_location() {
	case $1 in
	debian-security/pool/updates/*) echo "debian/pool/${1#debian-security/pool/updates/}" ;;
	debian/pool/*) echo "debian-security/pool/updates/${1#debian/pool/}" ;;
	esac
}

# Download $mirror/$1 to $2; prints the HTTP status ("404", "200", "000" unreachable).
download() {
	curl -sS --connect-timeout 10 --max-time 600 --retry 2 -o "$2" -w '%{http_code}' "$mirror/$1" 2>"$tmp/curl.err" || true
}

# Fetches the .debs of lock $1 (default docker/rootfs.lock) the cache lacks.
cmd_fetch() {
	lock=${1:-$rootfs_lock}
	mkdir -p "$debs"
	locked_debs "$lock" >"$tmp/locked"
	[ -s "$tmp/locked" ] || die "$lock holds no \"package version sha256 path\" line: $refresh_hint"
	: >"$tmp/todo"
	while read -r pkg ver sha path; do
		[ -f "$debs/$sha.deb" ] || echo "$pkg $ver $sha $path" >>"$tmp/todo"
	done <"$tmp/locked"
	todo=$(wc -l <"$tmp/todo")
	[ "$todo" = 0 ] && return 0
	# The downloads are curl's, which a fresh host may lack.
	command -v curl >/dev/null || "$top/scripts/install-deps.sh" --lock "$top/docker/host.lock" curl >&2
	# A version no index lists has left the pool too: say so before downloading anything.
	# (When an index cannot be read, the downloads below give the answer.)
	if offered_versions; then
		awk '{ print $1, $2 }' "$tmp/todo" | LC_ALL=C sort | comm -23 - "$tmp/offered" >"$tmp/vanished"
		report_vanished
	fi
	echo "pinned-debs: fetching $todo of $(wc -l <"$tmp/locked") locked .debs into $debs" >&2
	: >"$tmp/vanished"
	while read -r pkg ver sha path; do
		part="$debs/.$sha.part.$$"
		status=$(download "$path" "$part")
		if [ "$status" = 404 ] && alt=$(other_location "$path") && [ -n "$alt" ]; then
			status=$(download "$alt" "$part")
		fi
		case $status in
		200) ;;
		404)
			rm -f "$part"
			echo "$pkg $ver" >>"$tmp/vanished"
			continue
			;;
		*)
			rm -f "$part"
			die "cannot download $mirror/$path (HTTP $status): $(cat "$tmp/curl.err")"
			;;
		esac
		got=$(sha256sum "$part" | cut -d' ' -f1)
		if [ "$got" != "$sha" ]; then
			rm -f "$part"
			die "$mirror/$path has sha256 $got, ${lock#"$top"/} pins $sha for $pkg $ver: refused"
		fi
		mv "$part" "$debs/$sha.deb"
	done <"$tmp/todo"
	report_vanished
}

# Fetches docker/testdata.lock's .debs and unpacks each into $cache/testdata/<package>_<arch>/
# (PKG:ARCH's colon made an underscore), again only when the .deb there is another one.
cmd_testdata() {
	cmd_fetch "$testdata_lock"
	locked_debs "$testdata_lock" | while read -r pkg ver sha path; do
		dest="$cache/testdata/$(echo "$pkg" | tr : _)"
		[ "$(cat "$dest/.sha256" 2>/dev/null)" = "$sha" ] && continue
		rm -rf "$dest" "$dest.part"
		mkdir -p "$dest.part"
		dpkg-deb -x "$debs/$sha.deb" "$dest.part"
		echo "$sha" >"$dest.part/.sha256"
		mv "$dest.part" "$dest"
		echo "pinned-debs: $pkg $ver unpacked in $dest" >&2
	done
}

# One line per package of $tmp/vanished, then exit 1; nothing when it is empty.
report_vanished() {
	[ -s "$tmp/vanished" ] || return 0
	while read -r pkg ver; do
		echo "pinned-debs: $pkg $ver is pinned but gone from $mirror and not in $debs (the mirror has $(available_versions "$pkg")): $refresh_hint" >&2
	done <"$tmp/vanished"
	exit 1
}

# A flat repository (Packages + Release, no signature: every file in it was checked against
# the lock's sha256, and apt checks it again against Packages). The control stanzas come
# from dpkg-deb, part of dpkg itself, so no dpkg-dev or apt-utils is needed on the host.
# The Release names the suite bookworm: mmdebstrap picks the Essential and required
# packages of the suite it is given by that name.
cmd_repo() {
	dir=${1:?usage: pinned-debs.sh repo DIR}
	mkdir -p "$dir"
	locked_debs | while read -r pkg ver sha path; do
		deb="$debs/$sha.deb"
		[ -f "$deb" ] || die "$pkg $ver is not in $debs: run scripts/pinned-debs.sh fetch"
		ln -sf "$deb" "$dir/$sha.deb"
		dpkg-deb -f "$deb"
		echo "Filename: ./$sha.deb"
		echo "Size: $(stat -c %s "$deb")"
		echo "SHA256: $sha"
		echo
	done >"$dir/Packages"
	{
		echo "Suite: bookworm"
		echo "Codename: bookworm"
		echo "Date: $(LC_ALL=C date -u -d "@${SOURCE_DATE_EPOCH:-0}" '+%a, %d %b %Y %H:%M:%S UTC')"
		echo "SHA256:"
		echo " $(sha256sum "$dir/Packages" | cut -d' ' -f1) $(stat -c %s "$dir/Packages") Packages"
	} >"$dir/Release"
}

# Every pin of the three locks against the mirror's indexes, without downloading a .deb.
cmd_check() {
	offered_versions || die "cannot read the indexes of bookworm, bookworm-security and bookworm-backports from $mirror"
	bad=0
	for lock in "$top/docker/packages.lock" "$top/docker/shell.lock" "$top/docker/host.lock"; do
		grep -v '^#' "$lock" | awk 'NF == 3' | while read -r suite pkg ver; do
			grep -qxF "$suite $pkg $ver" "$tmp/offered-in-suite" && continue
			echo "pinned-debs: ${lock#"$top"/}: $suite $pkg $ver is gone from $mirror (it has $(available_versions "$pkg")): $refresh_hint"
		done
	done >"$tmp/report"
	for lock in "$rootfs_lock" "$testdata_lock"; do
		locked_debs "$lock" | while read -r pkg ver sha path; do
			grep -qxF "$pkg $ver" "$tmp/offered" && continue
			where="gone from $mirror"
			[ -f "$debs/$sha.deb" ] && where="$where (kept in $debs)"
			echo "pinned-debs: ${lock#"$top"/}: $pkg $ver is $where (it has $(available_versions "$pkg")): $refresh_hint"
		done
	done >>"$tmp/report"
	# Test data follows its amd64 twin: the same objects, built for the other architecture.
	locked_debs "$testdata_lock" | while read -r pkg ver sha path; do
		twin=$(twin_version "$pkg")
		[ "$twin" = "$ver" ] ||
			echo "pinned-debs: docker/testdata.lock: $pkg $ver, but docker/packages.lock or docker/rootfs.lock pins ${pkg%%:*} ${twin:-nowhere}: $refresh_hint"
	done >>"$tmp/report"
	[ -s "$tmp/report" ] && bad=1
	cat "$tmp/report" >&2
	pins=$(cat "$top/docker/packages.lock" "$top/docker/shell.lock" "$top/docker/host.lock")
	echo "pinned-debs: $(grep -vc '^#' "$rootfs_lock") rootfs pins, of which $(locked_debs | grep -c ' debian-security/') from bookworm-security;" \
		"$(echo "$pins" | grep -c '^bookworm-security ') security and" \
		"$(echo "$pins" | grep -cE '^(sid|unstable) ') sid pins in packages.lock, shell.lock and host.lock" >&2
	return $bad
}

case ${1:-} in
fetch) cmd_fetch ;;
repo) shift; cmd_repo "$@" ;;
testdata) cmd_testdata ;;
check) cmd_check ;;
twin-version) twin_version "${2:?usage: pinned-debs.sh twin-version PKG}" ;;
*) die "usage: pinned-debs.sh fetch | repo DIR | testdata | check | twin-version PKG" ;;
esac
