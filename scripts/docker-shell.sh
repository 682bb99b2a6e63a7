#!/bin/sh
# `make shell`: the pinned builder as a place to work. The tree is mounted at its host path
# (so build-docker/ and its compile_commands.json stay valid on the host), the kernel cache
# `make matrix` uses at /var/cache/flowattr (where any user may walk; an entry the user cannot
# write is served read-only), /dev/kvm when there is one (kmatrix still falls back to TCG),
# and the shell runs as the invoking user ($SUDO_UID/$SUDO_GID under sudo, else the caller)
# with a passwd entry and a home: what is built inside belongs to that user on the host.
# Usage: docker-shell.sh [--root] [--command 'CMD']
#   --command  run CMD with bash -c instead of an interactive shell; its exit status is ours
#   --root     root inside, with the capabilities BPF needs (SYS_ADMIN, NET_ADMIN): `bpftool
#              prog`, loading into the host kernel, apt; files made then are root's
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)

root=0 command=""
while [ $# -gt 0 ]; do
	case $1 in
	--root) root=1; shift ;;
	--command) command=${2:?--command needs a command}; shift 2 ;;
	*) echo "usage: docker-shell.sh [--root] [--command 'CMD']" >&2; exit 2 ;;
	esac
done

"$top/scripts/docker-engine.sh" >&2
builder=$("$top/scripts/docker-image.sh")

uid=${SUDO_UID:-$(id -u)}
gid=${SUDO_GID:-$(id -g)}
user=$(getent passwd "$uid" | cut -d: -f1)
user=${user:-user$uid}
group=$(getent group "$gid" | cut -d: -f1)
group=${group:-group$gid}
cache=${FLOWATTR_CACHE:-${HOME:?set HOME or FLOWATTR_CACHE}/.cache/flowattr}
# The user's passwd and group entries and home live in the cache (the container outlives
# this script, so no temporary directory): the image's own entries, minus any that would
# clash, plus the user's.
state="$cache/shell/$uid"
mkdir -p "$state/home" "$cache"
# The image's FILE ($1) without the entries of id $2 or name $3, then the line $4.
with_entry() {
	docker run --rm --entrypoint cat "$builder" "$1" | awk -F: -v id="$2" -v n="$3" '$3 != id && $1 != n'
	echo "$4"
}
with_entry /etc/passwd "$uid" "$user" "$user:x:$uid:$gid::/home/$user:/bin/bash" >"$state/passwd"
with_entry /etc/group "$gid" "$group" "$group:x:$gid:" >"$state/group"
# Under sudo the files above are root's: give the user what is theirs.
[ "$(id -u)" = "$uid" ] || chown -R "$uid:$gid" "$cache/shell"

case $PWD/ in "$top"/*) workdir=$PWD ;; *) workdir=$top ;; esac
# The host's network, so the host's hostname in the prompt: Debian's bash.bashrc puts
# $debian_chroot before it, "(flowattr-builder)you@host", so the builder's shell is not taken
# for the host's. Labelled with the user's uid: `docker ps --filter label=flowattr.shell` lists the shells.
set -- --rm --init --network host --label "flowattr.shell=$uid" -v "$top:$top" -w "$workdir" \
	-v "$cache:/var/cache/flowattr" -e FLOWATTR_CACHE=/var/cache/flowattr -e TERM -e COLUMNS -e LINES -e FLOWATTR_ACCEL \
	-e debian_chroot=flowattr-builder
if [ $root = 0 ]; then
	set -- "$@" --user "$uid:$gid" -e HOME="/home/$user" -e USER="$user" -v "$state/home:/home/$user" \
		-v "$state/passwd:/etc/passwd:ro" -v "$state/group:/etc/group:ro"
else
	# Docker's default seccomp profile lets bpf(2) through with CAP_SYS_ADMIN (this
	# docker knows no CAP_BPF); tc and netlink want NET_ADMIN.
	set -- "$@" --cap-add SYS_ADMIN --cap-add NET_ADMIN
fi
[ -e /dev/kvm ] && set -- "$@" --device /dev/kvm
[ -t 0 ] && [ -t 1 ] && set -- "$@" -it
if [ -n "$command" ]; then
	set -- "$@" "$builder" bash -c "$command"
else
	set -- "$@" "$builder" bash
fi
exec docker run "$@"
