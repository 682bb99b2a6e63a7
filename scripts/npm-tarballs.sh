#!/bin/sh
# Installs the npm packages a lock pins as a node_modules tree under DIR: the GitHub Actions
# workflow validator the unit tests run over ci/*.yml (ci/validator.lock), the Dev Containers
# CLI the dev-shell test opens .devcontainer/ with (ci/devcontainer-cli.lock).
# No npm: tarballs at exact versions need no resolver, and each is checked against the
# sha512 the lock pins before it is unpacked (a mismatch is refused, naming both hashes).
# The tree is built in a temporary sibling of DIR and renamed into place, so a failed run
# leaves no half-installed DIR; DIR/installed.lock records the lock it came from, so a run
# with the same lock does nothing. Node itself is Debian's (docker/host.lock, `make deps`).
# Usage: scripts/npm-tarballs.sh LOCK DIR
set -eu
lock=${1:?usage: npm-tarballs.sh LOCK DIR}
dir=${2:?usage: npm-tarballs.sh LOCK DIR}
dir=${dir%/}

die() {
	echo "npm-tarballs: $*" >&2
	exit 1
}
[ -f "$lock" ] || die "no lock file $lock"
pins=$(grep -v '^[[:space:]]*\(#\|$\)' "$lock" | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }')
if cmp -s "$lock" "$dir/installed.lock"; then
	echo "npm-tarballs: $pins already in $dir" >&2
	exit 0
fi

mkdir -p "$(dirname "$dir")"
work=$(mktemp -d "$dir.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM
mkdir "$work/tree"
grep -v '^[[:space:]]*\(#\|$\)' "$lock" >"$work/pins"
while read -r name version url integrity extra; do
	if [ -z "$integrity" ] || [ -n "$extra" ]; then
		die "$lock: expected '<package> <version> <tarball URL> <integrity>', got '$name $version $url $integrity $extra'"
	fi
	want=${integrity#sha512-}
	[ "$want" != "$integrity" ] || die "$lock: $name $version: only sha512 integrity is supported, not '$integrity'"
	tgz="$work/$(echo "$name-$version" | tr / _).tgz"
	# https for the registry; file: for a local copy (the tests use one).
	if ! err=$(curl -fsS --proto =https,file --connect-timeout 30 --max-time 300 --retry 2 -o "$tgz" "$url" 2>&1); then
		die "$name $version: cannot fetch $url: $err"
	fi
	want_hex=$(printf '%s' "$want" | base64 -d | od -An -v -tx1 | tr -d ' \n')
	got_hex=$(sha512sum "$tgz" | cut -d' ' -f1)
	[ "$got_hex" = "$want_hex" ] ||
		die "$name $version: $url has sha512 $got_hex, $lock pins $want_hex: refused"
	# npm tarballs hold one top directory (usually package/): its contents are the package.
	mkdir -p "$work/tree/node_modules/$name"
	tar -xzf "$tgz" -C "$work/tree/node_modules/$name" --strip-components=1 --no-same-owner ||
		die "$name $version: cannot unpack $url"
done <"$work/pins"
cp "$lock" "$work/tree/installed.lock"
rm -rf "$dir"
mv "$work/tree" "$dir"
echo "npm-tarballs: installed $pins in $dir" >&2
