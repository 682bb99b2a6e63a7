#!/bin/sh
# Prints the names of kernels.txt (first field of every non-comment line) as a JSON array:
# the job matrix of ci/matrix.yml. Names are [A-Za-z0-9._-] (the kernels.txt parser rejects others), so
# no JSON escaping is needed; a name may still be written in double quotes, as any field may.
set -eu
awk '!/^[[:space:]]*(#|$)/ { name = $1; gsub(/"/, "", name); printf "%s\"%s\"", (n++ ? "," : "["), name } END { print (n ? "]" : "[]") }' "${1:-kernels.txt}"
