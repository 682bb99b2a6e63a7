#!/bin/sh
# Make a Docker engine available: a daemon that already answers is used as it is (the
# engine does not shape the bytes the builder produces); otherwise Debian's docker.io and
# its helpers are installed at the versions of docker/host.lock and dockerd is started in
# the background. Idempotent; every docker-* target calls it first.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
log=/var/log/flowattr-dockerd.log

die() { echo "docker-engine: $*" >&2; exit 1; }

docker info >/dev/null 2>&1 && exit 0
[ "$(id -u)" = 0 ] || die "no Docker daemon answers, and installing or starting one needs root"
"$top/scripts/install-deps.sh" --lock "$top/docker/host.lock" docker.io containerd runc tini iptables
# No init system runs services here: start the daemon ourselves, detached from make.
echo "docker-engine: starting dockerd (log: $log)"
nohup dockerd --storage-driver=overlay2 >"$log" 2>&1 &
i=0
until docker info >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -le 30 ] || die "dockerd did not answer within 30 s; see $log"
	sleep 1
done
