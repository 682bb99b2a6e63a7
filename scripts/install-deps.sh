#!/bin/sh
# Install the named packages at the exact versions pinned in a lock file.
# Usage: scripts/install-deps.sh [--lock FILE] [PACKAGE...]
#   (a package may name its architecture, PKG:arm64; that architecture is added to dpkg)
#   (default lock docker/packages.lock; no package: every package of the lock)
# Adds bookworm-backports as a low-priority source when missing (never upgrades the
# machine by itself: backports are NotAutomatic) and fails naming any pinned version
# the mirror no longer has.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
lock="$top/docker/packages.lock"
if [ "${1:-}" = --lock ]; then
	lock=$2
	shift 2
fi

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: must run as root to install packages" >&2
	exit 1
fi

wanted=$(grep -v '^#' "$lock" | awk 'NF == 3 { print $2 }')
[ $# -gt 0 ] && wanted="$*"

specs=""
missing=""
for pkg in $wanted; do
	ver=$(awk -v p="$pkg" '!/^#/ && NF == 3 && $2 == p { print $3 }' "$lock")
	if [ -z "$ver" ]; then
		echo "install-deps: $pkg is not in $lock" >&2
		exit 1
	fi
	# One line per installed architecture of an unqualified name (amd64 and arm64 twins).
	if [ "$(dpkg-query -W -f '${Version}\n' "$pkg" 2>/dev/null | sort -u)" != "$ver" ]; then
		missing="$missing $pkg"
		specs="$specs $pkg=$ver"
	fi
done
[ -z "$specs" ] && exit 0

if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	echo 'deb http://deb.debian.org/debian bookworm-backports main' \
		>/etc/apt/sources.list.d/flowattr-bookworm-backports.list
fi
# PKG:arm64 (the cross build's libraries) needs dpkg to accept that architecture (multiarch).
for arch in $(echo "$missing" | tr ' ' '\n' | sed -n 's/^[^:]*:\([a-z0-9]*\)$/\1/p' | sort -u); do
	if [ "$arch" != "$(dpkg --print-architecture)" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
		echo "install-deps: dpkg --add-architecture $arch"
		dpkg --add-architecture "$arch"
	fi
done
echo "install-deps: installing$missing"
apt-get update -qq
for spec in $specs; do
	pkg=${spec%%=*}
	ver=${spec#*=}
	offered=$(apt-cache madison "$pkg" | awk -F'|' '{gsub(/ /, "", $2); print $2}')
	if ! echo "$offered" | grep -qxF "$ver"; then
		echo "install-deps: $pkg $ver is pinned but gone from the mirror (it has $(echo "$offered" | paste -sd, - | sed 's/,/, /g')): run 'make lock-refresh' and review 'git diff docker/'" >&2
		exit 1
	fi
done
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --allow-downgrades $specs >/dev/null
