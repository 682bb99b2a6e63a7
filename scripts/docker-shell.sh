#!/bin/sh
# Interactive shell in the pinned builder, the tree mounted at its host path (as in
# docker-build.sh, so build-docker/ works in both). Root inside, to try packages with apt.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/docker-engine.sh"
builder=$("$top/scripts/docker-image.sh")
exec docker run -it --rm --init --network host -v "$top:$top" -w "$top" "$builder" bash
