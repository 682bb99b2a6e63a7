#!/bin/sh
# Make a Docker engine available: install the pinned host tools of docker/host.lock
# (Debian's docker.io and mmdebstrap) when missing, then start dockerd in the background
# when no daemon answers. Idempotent; every docker-* target calls it first.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
lock="$top/docker/host.lock"
log=/var/log/flowattr-dockerd.log

die() { echo "docker-engine: $*" >&2; exit 1; }

specs=""
for pkg in $(awk '!/^#/ && NF == 3 { print $2 }' "$lock"); do
	ver=$(awk -v p="$pkg" '!/^#/ && $2 == p { print $3 }' "$lock")
	[ "$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null || true)" = "$ver" ] ||
		specs="$specs $pkg=$ver"
done
if [ -n "$specs" ]; then
	[ "$(id -u)" = 0 ] || die "must run as root to install$specs"
	echo "docker-engine: installing$specs"
	apt-get update -qq
	for spec in $specs; do
		apt-cache madison "${spec%%=*}" | awk -F'|' '{gsub(/ /, "", $2); print $2}' |
			grep -qxF "${spec#*=}" ||
			die "pinned version $spec (docker/host.lock) is no longer on the mirror; run 'make lock-refresh'"
	done
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $specs >/dev/null
fi

docker info >/dev/null 2>&1 && exit 0
[ "$(id -u)" = 0 ] || die "no Docker daemon answers and starting one needs root"
# No init system runs services here: start the daemon ourselves, detached from make.
echo "docker-engine: starting dockerd (log: $log)"
nohup dockerd --storage-driver=overlay2 >"$log" 2>&1 &
i=0
until docker info >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -le 30 ] || die "dockerd did not answer within 30 s; see $log"
	sleep 1
done
