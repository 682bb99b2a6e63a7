#!/bin/sh
# Reproducibility check: clone the committed tree (HEAD) twice, into two unrelated
# directories of different depth, build each with the pinned builder one after the other,
# and compare the two out/ trees byte for byte. Lists every differing or missing file with
# both sha256s and exits 1 if there is any. Uncommitted changes are not part of the check.
# The clones are removed on success and kept for inspection on failure.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)

a=$(mktemp -d /tmp/flowattr-repro-a.XXXXXX)
b=$(mktemp -d /var/tmp/flowattr-repro-b.XXXXXX)
cleanup() { [ "${keep:-}" = 1 ] || rm -rf "$a" "$b"; }
trap cleanup EXIT

# Both clones at the same commit, taken once: others may commit while the builds run.
rev=$(git -C "$top" rev-parse HEAD)
for dir in "$a/src" "$b/nested/checkout"; do
	git clone --quiet --no-checkout "$top" "$dir"
	git -C "$dir" checkout --quiet --detach "$rev"
done
for dir in "$a/src" "$b/nested/checkout"; do
	echo "repro-check: building $(git -C "$dir" rev-parse --short HEAD) in $dir" >&2
	# The unit tests are make check's and a plain make docker-build's job: here only out/'s bytes matter.
	FLOWATTR_UNIT_TESTS=skip "$dir/scripts/docker-build.sh" >"$dir.log" 2>&1 || {
		keep=1
		tail -30 "$dir.log" >&2
		echo "repro-check: build in $dir failed (full log: $dir.log)" >&2
		exit 1
	}
done

sums() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs sha256sum | LC_ALL=C sort -k2); }
sums "$a/src/out" >"$a/sums"
sums "$b/nested/checkout/out" >"$b/sums"
# One line "file sha-a sha-b" per file whose sha256 differs or that one build lacks.
diffs=$(LC_ALL=C join -a1 -a2 -e missing -o 0,1.1,2.1 -1 2 -2 2 "$a/sums" "$b/sums" | awk '$2 != $3')
n=$(wc -l <"$a/sums")
if [ -n "$diffs" ]; then
	keep=1
	echo "repro-check: FAIL, files differing between $a/src/out and $b/nested/checkout/out:"
	echo "$diffs" | awk '{ printf "  %s\n    a: %s\n    b: %s\n", $1, $2, $3 }'
	exit 1
fi
echo "repro-check: OK, $n files byte-identical across $a/src and $b/nested/checkout"
